"""Sample cabinet inventory across the machine-room sites."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meridian.solutions.idc_crm.context import SampleContext
from meridian.solutions.idc_crm.pools import weighted
from meridian.solutions.idc_crm.regions import IDC_SITES

_CABINETS_PER_MODULE = 20
_MODULES_PER_FLOOR = 10
_FLOORS_PER_BUILDING = 6
_POWER_CAPACITIES = weighted({"4.4": 4, "6.6": 3, "8.8": 3, "13.2": 2, "20.0": 1, "30.0": 1})
_STATUSES = weighted({"in_use": 12, "reserved": 2, "idle": 5, "faulty": 1})
_OCCUPIED = frozenset({"in_use", "reserved"})


def cabinet_count(scale: int) -> int:
    """One cabinet per ten opportunities, at least twenty."""
    return max(20, scale // 10)


def cabinet_rows(ctx: SampleContext) -> Iterator[dict[str, Any]]:
    """Cabinets numbered room by room, so every cabinet number is unique by construction.

    Cabinet ``i`` sits at position, module, floor, site and building read from ``i`` as a
    mixed-radix number: sites fill floor by floor, then each site opens another building.
    Occupied cabinets belong to customers with contracts (any customer if there are none).
    """
    rng = ctx.rng("cabinet")
    choice, randrange = rng.choice, rng.randrange
    holders = ctx.contract_customer or range(1, ctx.customer_count + 1)
    for index in range(cabinet_count(ctx.scale)):
        rest, position = divmod(index, _CABINETS_PER_MODULE)
        rest, module = divmod(rest, _MODULES_PER_FLOOR)
        rest, floor = divmod(rest, _FLOORS_PER_BUILDING)
        building, site_index = divmod(rest, len(IDC_SITES))
        site = IDC_SITES[site_index]
        block = _building_name(building)
        place = f"{floor + 1}F-M{module + 1:02d}"
        status = choice(_STATUSES)
        yield {
            "room": f"{site.city}-{block}栋-{place}",
            "cabinet_no": f"{site.site_code}-{block}-{place}-{position + 1:02d}",
            "power_capacity_kw": choice(_POWER_CAPACITIES),
            "status": status,
            "customer": holders[randrange(len(holders))] if status in _OCCUPIED else None,
        }


def _building_name(index: int) -> str:
    """A, B, … Z, then A2, B2, … for the rare generation that needs more buildings."""
    letter = chr(ord("A") + index % 26)
    return letter if index < 26 else f"{letter}{index // 26 + 1}"
