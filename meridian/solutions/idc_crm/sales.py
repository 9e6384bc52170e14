"""Sample opportunities and the quotes made for them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meridian.solutions.idc_crm.context import LOST, STAGES, WON, SampleContext
from meridian.solutions.idc_crm.phrases import FOLLOWUP_DETAILS, PROJECT_KINDS, QUOTE_EXTRAS
from meridian.solutions.idc_crm.pools import weighted
from meridian.solutions.idc_crm.regions import IDC_SITES
from meridian.solutions.idc_crm.timeline import yuan

# A database holds years of history, so closed deals outnumber any one open stage.
_STAGES = weighted({STAGES.index(stage): weight for stage, weight in (
    ("lead", 18), ("interest", 14), ("proposal", 12), ("negotiation", 8), ("won", 32), ("lost", 16),
)})  # fmt: skip
_CABINETS = (1, 2, 4, 5, 6, 8, 10, 10, 12, 15, 20, 20, 24, 30, 40, 50, 60, 80, 100, 200)
DENSITIES: tuple[tuple[str, int], ...] = (
    # (kW per rack, monthly rack rent in yuan): denser racks cost more power and cooling.
    ("4.4", 4500),
    ("6.0", 5500),
    ("6.6", 6000),
    ("8.0", 7000),
    ("8.8", 7500),
    ("12.0", 10000),
    ("16.0", 13000),
    ("20.0", 16000),
    ("30.0", 24000),
)
_BANDWIDTHS = (100, 200, 300, 500, 1000, 1000, 2000, 5000, 10000, 20000)
_BANDWIDTH_PRICE = 20  # yuan per Mbps per month, a typical BGP list price
_CARRIER_SETS: tuple[tuple[str, ...], ...] = (
    ("bgp",),
    ("bgp",),
    ("ct",),
    ("ct", "cu"),
    ("ct", "cu", "cm"),
    ("ct", "cu", "cm", "bgp"),
    ("cm",),
    ("cu", "bgp"),
    ("ct", "cbn"),
    ("bgp", "intl"),
)
_PUES = (None, None, "1.20", "1.25", "1.30", "1.30", "1.35", "1.40", "1.50")
_TERMS = (12, 24, 24, 36, 36, 60)
_WIN_REASONS = ("price", "location", "power", "network", "service", "relationship")
_LOSS_REASONS = ("price", "price", "competitor", "budget", "timing", "power", "location")
_DISCOUNTS = ("0.00", "0.00", "3.00", "5.00", "8.00", "10.00", "12.50", "15.00")
"""Percent off a quote's lines; its total is the quote's formula over them."""
_EXTRA_LINES = (0, 1, 1, 2, 2, 3, 4)
_OPEN_QUOTE_STATUSES = ("draft", "sent", "sent")


def opportunity_rows(ctx: SampleContext) -> Iterator[dict[str, Any]]:
    """Exactly ``ctx.scale`` opportunities; closed ones closed in the last four years."""
    rng = ctx.rng("opportunity")
    choice, randrange = rng.choice, rng.randrange
    customers, short_names, timeline = ctx.customer_count, ctx.customer_short_names, ctx.timeline
    for _ in range(ctx.scale):
        customer = randrange(customers) + 1
        stage = choice(_STAGES)
        cabinets = choice(_CABINETS)
        density = randrange(len(DENSITIES))
        kw, rack_price = DENSITIES[density]
        bandwidth = choice(_BANDWIDTHS)
        months = choice(_TERMS)
        amount = (cabinets * rack_price + bandwidth * _BANDWIDTH_PRICE) * months // 1000 * 1000
        closed = stage in (WON, LOST)
        close = -randrange(1460) if closed else randrange(7, 270)
        site = choice(IDC_SITES).city
        ctx.opportunity_customer.append(customer)
        ctx.opportunity_stage.append(stage)
        ctx.opportunity_close.append(close)
        ctx.opportunity_amount.append(amount)
        ctx.opportunity_cabinets.append(cabinets)
        ctx.opportunity_density.append(density)
        ctx.opportunity_months.append(months)
        yield {
            "name": f"{short_names[customer - 1]}-{site}{cabinets}柜{choice(PROJECT_KINDS)}",
            "customer": customer,
            "stage": STAGES[stage],
            "cabinets": cabinets,
            "power_density_kw": kw,
            "bandwidth_mbps": bandwidth,
            "carriers": list(choice(_CARRIER_SETS)),
            "pue_requirement": choice(_PUES),
            "expected_amount": yuan(amount),
            "expected_close_date": timeline.day(close),
            "win_loss_reason": (
                choice(_WIN_REASONS) if stage == WON else choice(_LOSS_REASONS) if closed else None
            ),
            "description": (
                f"拟在{site}部署{cabinets}个{kw}kW机柜，带宽{bandwidth}Mbps，"
                f"合同期{months}个月。{choice(FOLLOWUP_DETAILS)}"
            ),
        }


def quote_rows(ctx: SampleContext) -> Iterator[dict[str, Any]]:
    """A quote for each opportunity that reached the proposal stage, a tenth of them revised.

    Six in ten lost deals were lost after a quote; leads and interests have none. About 0.6
    quotes per opportunity, each with one cabinet line and up to four others.
    """
    rng = ctx.rng("quote")
    choice, randrange, random = rng.choice, rng.randrange, rng.random
    timeline = ctx.timeline
    proposal, negotiation = STAGES.index("proposal"), STAGES.index("negotiation")
    for index, stage in enumerate(ctx.opportunity_stage):
        if stage < proposal or (stage == LOST and random() < 0.4):
            continue
        count = 2 if stage in (WON, negotiation) and random() < 0.1 else 1
        close = ctx.opportunity_close[index]
        kw, rack_price = DENSITIES[ctx.opportunity_density[index]]
        months = ctx.opportunity_months[index]
        for revision in range(count):
            quoted_on = close - randrange(20, 90)
            valid_until = quoted_on + 30
            lines = [
                {
                    "product": "cabinet",
                    "spec": f"{kw}kW 标准机柜（42U）",
                    "quantity": ctx.opportunity_cabinets[index],
                    "unit_price": yuan(rack_price),
                    "months": months,
                }
            ]
            for product, spec, quantities, prices in rng.sample(QUOTE_EXTRAS, choice(_EXTRA_LINES)):
                quantity, price = choice(quantities), choice(prices)
                lines.append(
                    {
                        "product": product,
                        "spec": spec,
                        "quantity": quantity,
                        "unit_price": yuan(price),
                        "months": months,
                    }
                )
            discount = choice(_DISCOUNTS)
            final = revision == count - 1
            if stage == WON:
                status = "accepted" if final else "expired"
            elif stage == LOST:
                status = "rejected"
            elif valid_until < 0 or not final:
                status = "expired"
            else:
                status = choice(_OPEN_QUOTE_STATUSES)
            yield {
                "opportunity": index + 1,
                "customer": ctx.opportunity_customer[index],
                "valid_until": timeline.day(valid_until),
                "discount": discount,
                "items": lines,
                "status": status,
            }
