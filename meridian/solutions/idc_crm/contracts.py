"""Sample contracts (one per won opportunity) and the payments received on them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meridian.solutions.idc_crm.context import (
    BILLED_STATUSES,
    CONTRACT_STATUSES,
    WON,
    SampleContext,
)
from meridian.solutions.idc_crm.pools import weighted
from meridian.solutions.idc_crm.timeline import fen, yuan

_SLA_LEVELS = weighted({"99.9": 5, "99.95": 3, "99.99": 2})
_CYCLES = weighted({1: 2, 3: 5, 6: 2, 12: 3})
"""Months per installment: 月付, 季付, 半年付, 年付."""
_CYCLE_VALUES = {1: "monthly", 3: "quarterly", 6: "semiannual", 12: "annual"}
_UPCOMING = tuple(
    CONTRACT_STATUSES.index(status) for status in ("draft", "approving", "signed", "signed")
)
_ACTIVE, _EXPIRED, _TERMINATED = (
    CONTRACT_STATUSES.index(status) for status in ("active", "expired", "terminated")
)
_METHODS = weighted({"transfer": 12, "acceptance": 3, "online": 2, "check": 1})
_PAYMENTS_PER_CONTRACT = (1, 1, 2, 2, 3)
_DAYS_PER_MONTH = 30  # installment dates need no calendar precision


def contract_rows(ctx: SampleContext) -> Iterator[dict[str, Any]]:
    """One contract per won opportunity (about 0.3 per opportunity), starting after the win.

    Service starts one to eight weeks after the deal closed, so deals won in the last weeks
    have contracts still in draft, in approval or signed but not yet started.
    """
    rng = ctx.rng("contract")
    choice, randrange, random = rng.choice, rng.randrange, rng.random
    timeline = ctx.timeline
    for index, stage in enumerate(ctx.opportunity_stage):
        if stage != WON:
            continue
        customer = ctx.opportunity_customer[index]
        months = ctx.opportunity_months[index]
        start = ctx.opportunity_close[index] + randrange(7, 60)
        end = start + months * 365 // 12 - 1
        # Negotiated price: 90-105 % of the estimate, in whole hundreds of yuan.
        amount = ctx.opportunity_amount[index] * randrange(90, 106) // 10000 * 100
        cycle = choice(_CYCLES)
        if start > 0:
            status = choice(_UPCOMING)
        elif random() < 0.04:
            status = _TERMINATED
        else:
            status = _ACTIVE if end >= 0 else _EXPIRED
        ctx.contract_customer.append(customer)
        ctx.contract_amount.append(amount)
        ctx.contract_start.append(start)
        ctx.contract_end.append(end)
        ctx.contract_months.append(months)
        ctx.contract_cycle_months.append(cycle)
        ctx.contract_status.append(status)
        yield {
            "customer": customer,
            "opportunity": index + 1,
            "sla_level": choice(_SLA_LEVELS),
            "start_date": timeline.day(start),
            "end_date": timeline.day(end),
            "amount": yuan(amount),
            "payment_cycle": _CYCLE_VALUES[cycle],
            "status": CONTRACT_STATUSES[status],
        }


def payment_rows(ctx: SampleContext) -> Iterator[dict[str, Any]]:
    """One to three payments per started contract, each covering whole installments.

    Customers often settle several installments at once, so a contract's installments that
    have fallen due are split into up to three payments; the amounts never exceed the
    contract amount and no payment is dated after the anchor day.
    """
    rng = ctx.rng("payment")
    choice, randrange = rng.choice, rng.randrange
    timeline = ctx.timeline
    for index, status in enumerate(ctx.contract_status):
        if status not in BILLED_STATUSES:
            continue
        start, cycle = ctx.contract_start[index], ctx.contract_cycle_months[index]
        installments = ctx.contract_months[index] // cycle
        served_days = min(ctx.contract_end[index], 0) - start
        due = min(installments, served_days // (cycle * _DAYS_PER_MONTH) + 1)
        payments = min(due, choice(_PAYMENTS_PER_CONTRACT))
        total_fen = ctx.contract_amount[index] * 100
        first = 0
        for number in range(payments):
            last = due if number == payments - 1 else first + due // payments
            # Paid a few days after the last installment it covers fell due.
            paid_on = min(start + (last - 1) * cycle * _DAYS_PER_MONTH + randrange(0, 20), 0)
            yield {
                "contract": index + 1,
                "customer": ctx.contract_customer[index],
                "amount": fen(total_fen * (last - first) // installments),
                "paid_on": timeline.day(paid_on),
                "method": choice(_METHODS),
                "invoice_no": timeline.day(paid_on)[:4] + f"{randrange(10**16):016d}",
            }
            first = last
