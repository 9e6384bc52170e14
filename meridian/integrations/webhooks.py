"""Outbound webhooks: other systems told of record changes, signed, retried, logged, replayable.

A subscription names a form, the events it wants and a URL. When a record changes, one
delivery job per matching subscription is enqueued in the same transaction, carrying the
event, the change and the record as it then was. The worker POSTs it as JSON with:

- ``X-Meridian-Event``: the event type, e.g. ``RecordUpdated``;
- ``X-Meridian-Timestamp``: Unix seconds; ``X-Meridian-Signature``: ``v1=`` + hex
  HMAC-SHA256 of ``"{timestamp}.{body}"`` with the subscription's secret — a receiver recomputes
  it and rejects old timestamps, so a captured request cannot be replayed later;
- ``X-Idempotency-Key``: derived from what caused the delivery — the event's id in the outbox
  and the subscription (a rule's call: its run and the call's place in it) — so it is the same
  on every attempt, after a worker's crash and on a replay.

Any answer but 2xx, or no answer within the timeout, is a failed attempt: the job comes back
with exponential backoff. Every attempt is logged with its status and timing. Delivery is at
least once: the receiver may answer and the worker die before it records so, and the delivery is
sent again — with the same key, for the receiver to drop.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import secrets
import ssl
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meridian.access.manage import require_admin
from meridian.core.actor import Actor
from meridian.core.clock import utcnow
from meridian.core.i18n import Text, localized, stored
from meridian.db import revisions
from meridian.db.engine import transaction
from meridian.db.tables import jobs, webhook_deliveries, webhooks
from meridian.errors import FieldError, NotFound, ValidationFailed
from meridian.jobs.queue import JobContext, enqueue
from meridian.records.reads import get_record
from meridian.records.subscribers import Changes
from meridian.schema.catalog import get_form

DELIVER = "webhook.deliver"
EVENT_TYPES = (
    "RecordCreated",
    "RecordUpdated",
    "RecordDeleted",
    "RecordRestored",
    "ApprovalFinished",
)
TIMEOUT = httpx.Timeout(5.0, connect=3.0)
RESPONSE_EXCERPT = 2000


def create_webhook(
    conn: Connection, actor: Actor, *, form_key: str, events: Sequence[str], url: str
) -> dict[str, Any]:
    """A subscription; its signing secret is returned this once."""
    require_admin(actor)
    get_form(conn, form_key)
    problems = []
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        problems.append(FieldError("url", "invalid_url", Text("expected an http(s) URL"), url))
    unknown = [e for e in events if e not in EVENT_TYPES] if isinstance(events, list) else events
    if not events or unknown:
        problems.append(
            FieldError(
                "events",
                "invalid_events",
                Text("choose from {value}", value=", ".join(EVENT_TYPES)),
                events,
            )
        )
    if problems:
        raise ValidationFailed(problems)
    secret = "whsec_" + secrets.token_urlsafe(24)
    revisions.bump(conn, WEBHOOKS_REVISION)
    result = conn.execute(
        webhooks.insert().values(
            form_key=form_key,
            events=list(events),
            url=url,
            secret=secret,
            created_by=actor.user_id,
            created_at=utcnow(conn),
        )
    )
    assert result.inserted_primary_key is not None
    webhook_id = int(result.inserted_primary_key[0])
    return {
        "id": webhook_id,
        "form_key": form_key,
        "events": list(events),
        "url": url,
        "secret": secret,
    }


WEBHOOKS_REVISION = "webhooks"
"""Replaced whenever a subscription is made: every write asks which ones its form has."""
_subscriptions: dict[tuple[str, str], tuple[Any, ...]] = {}


def _subscriptions_of(conn: Connection, form_key: str) -> tuple[Any, ...]:
    """The form's active subscriptions (id, events), kept per process under the revision."""
    token = revisions.token(conn, WEBHOOKS_REVISION)
    kept = _subscriptions.get((token, form_key)) if token else None
    if kept is None:
        kept = tuple(
            conn.execute(
                sa.select(webhooks.c.id, webhooks.c.events).where(
                    webhooks.c.active, webhooks.c.form_key == form_key
                )
            ).all()
        )
        if token:
            if len(_subscriptions) >= 1024:
                _subscriptions.clear()
            _subscriptions[token, form_key] = kept
    return kept


def on_record_changes(conn: Connection, changes: Changes) -> None:
    """Enqueue one delivery per event and matching subscription (in the writer's transaction)."""
    subscriptions = _subscriptions_of(conn, changes.form.key)
    if not subscriptions:
        return
    system = Actor.system()
    for event, event_id in zip(changes.events, changes.event_ids, strict=True):
        wanted = [s.id for s in subscriptions if event.event_type in s.events]
        if not wanted:
            continue
        record = get_record(
            conn=conn,
            actor=system,
            form=changes.form,
            record_id=event.record_id,
            include_deleted=True,
        )
        body = {"event": event.event_type, **vars(event), "record": record}
        for webhook_id in wanted:
            key = delivery_key(event_id, webhook_id)
            payload = {"webhook_id": webhook_id, "body": body, "key": key}
            enqueue(conn, DELIVER, payload, idempotency_key=key)


def delivery_key(event_id: int, webhook_id: int) -> str:
    """The idempotency key of the delivery of event ``event_id`` to subscription
    ``webhook_id``: what caused it, so every attempt and re-run of it sends the same key."""
    return f"meridian-event-{event_id}-webhook-{webhook_id}"


def _key_of(context: JobContext) -> str:
    """The key the job carries; a job queued before keys were derived from their cause keeps
    its own id as the key."""
    return str(context.payload.get("key") or f"meridian-job-{context.job_id}")


@functools.cache
def tls() -> ssl.SSLContext:
    """The TLS context every outbound call shares. Building one reads the CA bundle, and each
    call that built its own spent 80–120 ms on it — ten times the call to a local receiver."""
    return httpx.create_ssl_context()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + digest.hexdigest()


def deliver(context: JobContext) -> None:
    """Send one delivery; raise on failure so the queue retries it with backoff."""
    with transaction(context.engine) as conn:
        webhook = conn.execute(
            sa.select(webhooks).where(webhooks.c.id == context.payload["webhook_id"])
        ).first()
    if webhook is None or not webhook.active:
        return  # the subscription was removed: nothing left to tell
    payload = context.payload["body"]
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Meridian-Webhooks/1",
        "X-Meridian-Event": payload["event"],
        "X-Meridian-Timestamp": str(timestamp),
        "X-Meridian-Signature": sign(webhook.secret, timestamp, body),
        "X-Idempotency-Key": _key_of(context),
    }
    started = time.perf_counter()
    status, error, excerpt = None, None, None
    try:
        response = httpx.post(
            webhook.url, content=body, headers=headers, timeout=TIMEOUT, verify=tls()
        )
        status, excerpt = response.status_code, response.text[:RESPONSE_EXCERPT]
    except httpx.HTTPError as exc:
        error = Text("the receiver could not be reached: {reason}", reason=_said(exc))
    took = int((time.perf_counter() - started) * 1000)
    taken = error is None and status is not None and 200 <= status < 300
    # A delivery taken is logged in the transaction that completes its job: both or neither.
    with context.transaction() if taken else transaction(context.engine) as conn:
        conn.execute(
            webhook_deliveries.insert().values(
                webhook_id=webhook.id,
                job_id=context.job_id,
                attempt=context.attempt,
                event_type=payload["event"],
                record_id=payload.get("record_id"),
                status_code=status,
                error=None if error is None else stored(error),
                response=excerpt,
                duration_ms=took,
                at=utcnow(conn),
            )
        )
    if not taken:
        raise DeliveryFailed(error or Text("the receiver answered {status}", status=status))


def call(context: JobContext) -> None:
    """A rule's webhook action: POST the record, signed when the rule has a secret; a failure
    raises so the queue retries with backoff (the job's log keeps the last error)."""
    payload = context.payload
    body = json.dumps(payload["body"], ensure_ascii=False, separators=(",", ":")).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Meridian-Webhooks/1",
        "X-Meridian-Event": "RuleFired",
        "X-Meridian-Timestamp": str(timestamp),
        "X-Idempotency-Key": _key_of(context),
    }
    if payload.get("secret"):
        headers["X-Meridian-Signature"] = sign(payload["secret"], timestamp, body)
    try:
        response = httpx.post(
            payload["url"], content=body, headers=headers, timeout=TIMEOUT, verify=tls()
        )
    except httpx.HTTPError as exc:
        raise DeliveryFailed(
            Text("the receiver could not be reached: {reason}", reason=_said(exc))
        ) from None
    if not 200 <= response.status_code < 300:
        raise DeliveryFailed(
            Text(
                "the receiver answered {status}: {response}",
                status=response.status_code,
                response=response.text[:RESPONSE_EXCERPT],
            )
        )


def _said(exc: Exception) -> str:
    """A network error as the library says it (English, a parameter of our sentence)."""
    return f"{type(exc).__name__}: {exc}"


class DeliveryFailed(Exception):
    """The receiver did not take the delivery; the job will try again."""


def list_webhooks(conn: Connection, actor: Actor) -> list[dict[str, Any]]:
    """Subscriptions without their secrets."""
    require_admin(actor)
    rows = conn.execute(sa.select(webhooks).order_by(webhooks.c.id))
    return [
        {"id": r.id, "form_key": r.form_key, "events": r.events, "url": r.url, "active": r.active}
        for r in rows
    ]


def deliveries(
    conn: Connection, actor: Actor, webhook_id: int, *, locale: str = "en"
) -> list[dict[str, Any]]:
    """The last 200 deliveries, newest first, their errors said in ``locale``."""
    require_admin(actor)
    rows = conn.execute(
        sa.select(webhook_deliveries)
        .where(webhook_deliveries.c.webhook_id == webhook_id)
        .order_by(webhook_deliveries.c.id.desc())
        .limit(200)
    )
    return [
        {
            **row._mapping,
            "error": None if row.error is None else localized(row.error, locale),
            "at": row.at.isoformat(),
        }
        for row in rows
    ]


def replay(conn: Connection, actor: Actor, webhook_id: int, delivery_id: int) -> int:
    """Send a logged delivery again, as a new job; returns the job id."""
    require_admin(actor)
    row = conn.execute(
        sa.select(webhook_deliveries.c.job_id).where(
            webhook_deliveries.c.id == delivery_id, webhook_deliveries.c.webhook_id == webhook_id
        )
    ).first()
    if row is None:
        raise NotFound(
            Text(
                "webhook {webhook_id} has no delivery {delivery_id}",
                webhook_id=webhook_id,
                delivery_id=delivery_id,
            ),
            id=delivery_id,
        )
    payload = conn.execute(sa.select(jobs.c.payload).where(jobs.c.id == row.job_id)).scalar_one()
    job_id = enqueue(conn, DELIVER, payload)
    assert job_id is not None
    return job_id
