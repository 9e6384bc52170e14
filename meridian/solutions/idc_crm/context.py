"""What one sample generation shares between its forms.

Forms are generated one after another, each from its own random stream (seeded by the seed
and the form key, so changing how one form is generated leaves the others' rows unchanged).
Later forms must agree with earlier ones — a contract belongs to the customer of the won
opportunity it came from — so each form records the few facts later forms need here, in
compact arrays: at a million opportunities these take a few tens of megabytes.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from datetime import date
from random import Random

from meridian.solutions.idc_crm.timeline import Timeline

STAGES: tuple[str, ...] = ("lead", "interest", "proposal", "negotiation", "won", "lost")
"""Opportunity stage option values; facts store a stage as its index here."""
WON = STAGES.index("won")
LOST = STAGES.index("lost")

CONTRACT_STATUSES: tuple[str, ...] = (
    "draft",
    "approving",
    "signed",
    "active",
    "expired",
    "terminated",
)
BILLED_STATUSES = frozenset(
    CONTRACT_STATUSES.index(status) for status in ("active", "expired", "terminated")
)
"""Contracts whose service has started, and so have payments."""


@dataclass
class SampleContext:
    seed: int
    scale: int
    timeline: Timeline
    customer_count: int
    customer_short_names: list[str] = field(default_factory=list)
    customer_domains: list[str] = field(default_factory=list)
    # Opportunity facts, index = ordinal - 1.
    opportunity_customer: array[int] = field(default_factory=lambda: array("l"))
    opportunity_stage: bytearray = field(default_factory=bytearray)
    opportunity_close: array[int] = field(default_factory=lambda: array("l"))
    opportunity_amount: array[int] = field(default_factory=lambda: array("q"))
    opportunity_cabinets: array[int] = field(default_factory=lambda: array("l"))
    opportunity_density: bytearray = field(default_factory=bytearray)
    opportunity_months: bytearray = field(default_factory=bytearray)
    # Contract facts, index = ordinal - 1.
    contract_customer: array[int] = field(default_factory=lambda: array("l"))
    contract_amount: array[int] = field(default_factory=lambda: array("q"))
    contract_start: array[int] = field(default_factory=lambda: array("l"))
    contract_end: array[int] = field(default_factory=lambda: array("l"))
    contract_months: bytearray = field(default_factory=bytearray)
    contract_cycle_months: bytearray = field(default_factory=bytearray)
    contract_status: bytearray = field(default_factory=bytearray)

    @classmethod
    def start(cls, *, seed: int, scale: int, anchor: date) -> SampleContext:
        return cls(
            seed=seed,
            scale=scale,
            timeline=Timeline(anchor),
            customer_count=max(10, scale // 5),
        )

    def rng(self, form_key: str) -> Random:
        """The form's own random stream; string seeds hash with SHA-512, stable across runs."""
        return Random(f"meridian-idc-sample/{self.seed}/{form_key}")
