"""Sample follow-ups on deals and customers, and service tickets from signed customers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meridian.solutions.idc_crm.context import LOST, STAGES, WON, SampleContext
from meridian.solutions.idc_crm.people import person
from meridian.solutions.idc_crm.phrases import (
    FOLLOWUP_DETAILS,
    FOLLOWUP_OPENINGS,
    FOLLOWUP_SUBJECTS,
    NEXT_ACTIONS,
    TICKET_DESCRIPTIONS,
    TICKET_TITLES,
)
from meridian.solutions.idc_crm.pools import weighted
from meridian.solutions.idc_crm.timeline import TIME_SLOTS

_FOLLOWUPS_PER_STAGE: dict[int, tuple[int, ...]] = {
    # Deals that went further were followed up more; about 1.5 per opportunity overall.
    STAGES.index("lead"): (1,),
    STAGES.index("interest"): (1,),
    STAGES.index("proposal"): (1, 2),
    STAGES.index("negotiation"): (2,),
    WON: (2,),
    LOST: (1, 2),
}
_FOLLOWUP_TYPES = weighted({"call": 5, "email": 2, "visit": 2, "tech": 1})
_KEEP_IN_TOUCH_SUBJECTS = ("日常回访", "节前问候", "满意度回访", "年度业务回顾")
_TICKETS_PER_CONTRACT = (0, 0, 1, 1, 1)
_TICKET_TYPES = weighted({"fault": 3, "change": 3, "consult": 2, "rack_in": 2, "rack_out": 1})
_PRIORITIES = {
    "fault": weighted({"p1": 1, "p2": 3, "p3": 1}),
    "change": weighted({"p2": 1, "p3": 4, "p4": 1}),
    "consult": weighted({"p3": 1, "p4": 3}),
    "rack_in": weighted({"p2": 1, "p3": 3}),
    "rack_out": weighted({"p3": 2, "p4": 1}),
}
_SLA_DAYS = {"p1": 0, "p2": 0, "p3": 1, "p4": 3}
_RECENT_STATUSES = ("open", "open", "in_progress")
_DONE_STATUSES = ("resolved", "closed", "closed", "closed")


def followup_rows(ctx: SampleContext) -> Iterator[dict[str, Any]]:
    """Follow-ups on each opportunity, then keep-in-touch calls to one customer in five.

    A closed deal's follow-ups fall in the four months before it closed, an open deal's in the
    four months before the anchor day. Seven in ten plan a next action a few days later.
    """
    rng = ctx.rng("followup")
    choice, randrange, random = rng.choice, rng.randrange, rng.random
    moment, day = ctx.timeline.moment, ctx.timeline.day

    def row(
        customer: int, opportunity: int | None, kind: str, subject: str, when: int
    ) -> dict[str, Any]:
        planned = random() < 0.7
        return {
            "customer": customer,
            "opportunity": opportunity,
            "type": kind,
            "subject": subject,
            "occurred_at": moment(when, choice(TIME_SLOTS)),
            "participants": f"客户：{person(rng)[0]}；我方：{person(rng)[0]}",
            "content": choice(FOLLOWUP_OPENINGS[kind]) + choice(FOLLOWUP_DETAILS),
            "next_action": choice(NEXT_ACTIONS) if planned else None,
            "next_action_date": day(when + randrange(2, 15)) if planned else None,
        }

    for index, stage in enumerate(ctx.opportunity_stage):
        close = ctx.opportunity_close[index]
        latest = close if stage in (WON, LOST) else 0
        customer = ctx.opportunity_customer[index]
        for _ in range(choice(_FOLLOWUPS_PER_STAGE[stage])):
            kind = choice(_FOLLOWUP_TYPES)
            subject = choice(FOLLOWUP_SUBJECTS[kind])
            yield row(customer, index + 1, kind, subject, latest - randrange(0, 120))
    for customer in range(1, ctx.customer_count + 1):
        if random() < 0.2:
            subject = choice(_KEEP_IN_TOUCH_SUBJECTS)
            yield row(customer, None, "call", subject, -randrange(0, 365))


def ticket_rows(ctx: SampleContext) -> Iterator[dict[str, Any]]:
    """Tickets raised while contracts were in service (about 0.6 per contract).

    Tickets of the last three days are still open; older ones are resolved or closed.
    """
    rng = ctx.rng("ticket")
    choice, randrange = rng.choice, rng.randrange
    moment = ctx.timeline.moment
    for index, start in enumerate(ctx.contract_start):
        last = min(ctx.contract_end[index], 0)
        if last < start:
            continue
        customer = ctx.contract_customer[index]
        for _ in range(choice(_TICKETS_PER_CONTRACT)):
            kind = choice(_TICKET_TYPES)
            priority = choice(_PRIORITIES[kind])
            raised = randrange(max(start, last - 720), last + 1)
            yield {
                "customer": customer,
                "title": choice(TICKET_TITLES[kind]),
                "type": kind,
                "priority": priority,
                "status": choice(_RECENT_STATUSES if raised > -3 else _DONE_STATUSES),
                "sla_due_at": moment(raised + _SLA_DAYS[priority], choice(TIME_SLOTS)),
                "description": choice(TICKET_DESCRIPTIONS[kind]),
            }
