"""Sample customers and their contacts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meridian.solutions.idc_crm.companies import CompanyNamer
from meridian.solutions.idc_crm.context import SampleContext
from meridian.solutions.idc_crm.people import mobile, person
from meridian.solutions.idc_crm.pools import weighted
from meridian.solutions.idc_crm.vocabulary import JOB_TITLES

_SCALES = weighted({"micro": 2, "small": 4, "medium": 4, "large": 2, "xlarge": 1})
_LEVELS = weighted({"A": 1, "B": 3, "C": 4, "D": 2})
_SOURCES = weighted(
    {"website": 3, "referral": 3, "expo": 1, "bidding": 2, "outbound": 2, "partner": 2}
)
_STATUSES = weighted({"prospect": 7, "active": 9, "dormant": 2, "churned": 2})
_CONTACTS_PER_CUSTOMER = (1, 2, 2, 3)


def customer_rows(ctx: SampleContext) -> Iterator[dict[str, Any]]:
    """``ctx.customer_count`` customers; one in ten has no USCC on file yet."""
    rng = ctx.rng("customer")
    namer = CompanyNamer(rng)
    choice, random = rng.choice, rng.random
    short_names, domains = ctx.customer_short_names, ctx.customer_domains
    for ordinal in range(1, ctx.customer_count + 1):
        company = namer.company(ordinal)
        short_names.append(company.short_name)
        domains.append(company.domain)
        yield {
            "name": company.name,
            "industry": company.industry,
            "scale": choice(_SCALES),
            "uscc": company.uscc if random() < 0.9 else None,
            "region": company.region.code,
            "level": choice(_LEVELS),
            "source": choice(_SOURCES),
            "website": "https://www." + company.domain,
            "status": choice(_STATUSES),
        }


def contact_rows(ctx: SampleContext) -> Iterator[dict[str, Any]]:
    """One to three contacts per customer (two on average); the first is the primary one."""
    rng = ctx.rng("contact")
    choice = rng.choice
    for customer, domain in enumerate(ctx.customer_domains, start=1):
        for position in range(choice(_CONTACTS_PER_CUSTOMER)):
            name, pinyin = person(rng)
            title, role = choice(JOB_TITLES)
            yield {
                "customer": customer,
                "name": name,
                "title": title,
                "phone": mobile(rng),
                "email": f"{pinyin}@{domain}",
                "decision_role": role,
                "is_primary": position == 0,
            }
