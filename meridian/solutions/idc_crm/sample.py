"""Deterministic sample data for the IDC CRM, from a handful of records to a million deals.

``generate(seed=…, scale=N)`` yields batches of API-level record values, form by form in
dependency order (a form's link targets come before it), at most ``BATCH_SIZE`` rows each —
the bulk-create limit. ``N`` is the number of opportunities; the other forms follow from it:

============  ===============================================  ==================
form          how many                                         at N = 1,000,000
============  ===============================================  ==================
customer      max(10, N // 5)                                  200,000
contact       1-3 per customer (2 on average)                  400,190
opportunity   exactly N                                        1,000,000
quote         one per deal from the proposal stage on, 1-5     655,476
              lines each (≈ 0.66 N)
contract      one per won opportunity (≈ 0.32 N)               320,180
payment       1-3 per started contract (≈ 0.52 N)              516,976
followup      1-2 per opportunity, one per fifth customer      1,579,893
              (≈ 1.58 N)
ticket        0-1 per contract in service (≈ 0.19 N)           187,784
cabinet       max(20, N // 10)                                 100,000
============  ===============================================  ==================

The last column is seed 42; other seeds differ by a fraction of a percent. In all, about five
records per opportunity (4,960,499 at N = 1,000,000): enough history for every report to show
something, while a million-opportunity data set stays loadable in minutes. Quote lines (about
three per quote) come on top, inside their quotes.

Values are what the JSON API accepts, so the rows can be posted as they are: money and
decimals are decimal strings with the field's number of decimals ("128000.00"), dates are
ISO dates, datetimes are ISO with the +08:00 offset, selects hold option values and
multi-selects lists of them. Every row of a form has the same keys (``None`` for a blank),
so a loader can insert a batch with one ``executemany``. Auto-numbers and the owner are left
to the server.

**Link fields hold ordinals, not ids.** A link value ``k`` means "the k-th record (1-based)
generated for the target form in this same generation"; the loader must map ordinals to the
ids the database assigned, e.g. by remembering each form's ids in insertion order.

The same seed, scale and anchor always give the same rows: every form draws from its own
``random.Random`` seeded by the seed and the form key, and all dates are offsets from
``anchor`` (the sample's "today"), never from the clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from itertools import islice
from typing import Any

from meridian.solutions.idc_crm.activity import followup_rows, ticket_rows
from meridian.solutions.idc_crm.companies import MAX_COMPANIES
from meridian.solutions.idc_crm.context import SampleContext
from meridian.solutions.idc_crm.contracts import contract_rows, payment_rows
from meridian.solutions.idc_crm.inventory import cabinet_rows
from meridian.solutions.idc_crm.parties import contact_rows, customer_rows
from meridian.solutions.idc_crm.sales import opportunity_rows, quote_rows

BATCH_SIZE = 1000
ANCHOR = date(2026, 1, 1)

Rows = Callable[[SampleContext], Iterator[dict[str, Any]]]

FORM_ROWS: tuple[tuple[str, Rows], ...] = (
    ("customer", customer_rows),
    ("contact", contact_rows),
    ("opportunity", opportunity_rows),
    ("quote", quote_rows),
    ("contract", contract_rows),
    ("payment", payment_rows),
    ("followup", followup_rows),
    ("ticket", ticket_rows),
    ("cabinet", cabinet_rows),
)
"""Each form's row generator, in the order they must run and be loaded."""


@dataclass(frozen=True)
class SampleBatch:
    """Up to ``BATCH_SIZE`` rows of one form, ready for the bulk-create API."""

    form_key: str
    rows: list[dict[str, Any]]


def generate(*, seed: int, scale: int, anchor: date = ANCHOR) -> Iterator[SampleBatch]:
    """Sample records for ``scale`` opportunities, in batches, forms in dependency order.

    A scale out of range is refused at the call, not at the first batch. Generation is lazy:
    a caller that stops early (say, after the opportunities) pays only for what it consumed.
    """
    if scale < 1:
        raise ValueError(f"scale must be at least 1 opportunity, got {scale}")
    ctx = SampleContext.start(seed=seed, scale=scale, anchor=anchor)
    if ctx.customer_count > MAX_COMPANIES:
        raise ValueError(f"scale {scale} needs more than the {MAX_COMPANIES} distinct companies")
    return _batches(ctx)


def _batches(ctx: SampleContext) -> Iterator[SampleBatch]:
    for form_key, rows in FORM_ROWS:
        records = rows(ctx)
        while batch := list(islice(records, BATCH_SIZE)):
            yield SampleBatch(form_key, batch)
