"""Sending notifications: email over SMTP, and WeCom, DingTalk and Feishu group robots.

Each is a job handler (see ``meridian.notify``): a failure raises, and the queue retries with
backoff. The bot messages follow each platform's documented robot webhook format, as plain
text, markdown (Feishu: ``post`` rich text) or a card with a button back to the record (WeCom
``template_card``, DingTalk ``actionCard``, Feishu ``interactive``) — or, for an approver's
card, to their approval link (the payload's ``action_path``), made absolute with the configured
base URL. DingTalk robots with a
secret are signed in the URL (HMAC-SHA256 of ``"{timestamp}\\n{secret}"``, Base64), Feishu
robots the same way in the body.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import smtplib
import time
import urllib.parse
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import httpx
import sqlalchemy as sa

from meridian.core.i18n import (
    DEFAULT_LOCALE,
    N_,
    Translator,
    for_everyone,
    localized,
    supported,
)
from meridian.db.engine import transaction
from meridian.db.tables import bot_channels
from meridian.integrations.webhooks import tls
from meridian.jobs.queue import JobContext
from meridian.settings import Settings

TIMEOUT = httpx.Timeout(5.0, connect=3.0)


class SendFailed(Exception):
    """The mail server or the robot did not take the message; the job will try again."""


def record_link(settings: Settings, payload: dict[str, Any]) -> str | None:
    if not payload.get("form_key") or not payload.get("record_id"):
        return None
    base = settings.base_url.rstrip("/")
    return f"{base}/forms/{payload['form_key']}/records/{payload['record_id']}"


def action_link(settings: Settings, payload: dict[str, Any]) -> str | None:
    """The absolute URL of the action a message offers (an approval link), or None."""
    path = payload.get("action_path")
    if not isinstance(path, str) or not path.startswith("/") or path.startswith("//"):
        return None
    return settings.base_url.rstrip("/") + path


def email_sender(settings: Settings) -> Callable[[JobContext], None]:
    def send(context: JobContext) -> None:
        if not settings.smtp_host:
            raise SendFailed("no SMTP server is configured (MERIDIAN_SMTP_HOST)")
        payload = context.payload
        locale = supported(payload.get("locale")) or DEFAULT_LOCALE
        message = EmailMessage()
        message["Subject"] = localized(payload["title"], locale)
        message["From"] = settings.smtp_from
        message["To"] = payload["to"]
        message["Message-ID"] = (
            f"<meridian-job-{context.job_id}@{settings.smtp_from.split('@')[-1]}>"
        )
        link = record_link(settings, payload)
        action = action_link(settings, payload)
        text = localized(payload.get("body") or "", locale)
        if action:
            text += "\n\n" + Translator(locale)(N_("Approve or reject: {link}"), link=action)
        if link:
            text += "\n\n" + Translator(locale)(N_("Open: {link}"), link=link)
        message.set_content(text + "\n\n— Meridian 子午\n")
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password)
            smtp.send_message(message)

    return send


def _signature(secret: str, timestamp: str) -> str:
    digest = hmac.new(f"{timestamp}\n{secret}".encode(), digestmod=hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


DEFAULT_STYLE = {"wecom": "markdown", "dingtalk": "card", "feishu": "card"}
OPEN = "查看 / Open"
DECIDE = "审批 / Approve or reject"


def bot_message(
    kind: str,
    secret: str | None,
    title: str,
    body: str,
    link: str | None,
    style: str | None = None,
    button: str = OPEN,
) -> tuple[dict[str, str], dict[str, Any]]:
    """(extra URL parameters, JSON body) for one platform's group robot, in ``style`` text,
    markdown or card (each platform's own default when None; a card needs a link), its link
    labelled ``button``."""
    style = style or DEFAULT_STYLE[kind]
    if style == "card" and not link:
        style = "markdown"
    plain = "\n".join(part for part in (title, body, link and f"{button}: {link}") if part)
    if kind == "wecom":
        return {}, _wecom(style, title, body, link, plain, button)
    if kind == "dingtalk":
        params = {}
        if secret:
            timestamp = str(int(time.time() * 1000))
            params = {"timestamp": timestamp, "sign": _signature(secret, timestamp)}
        return params, _dingtalk(style, title, body, link, plain, button)
    message = _feishu(style, title, body, link, plain, button)
    if secret:
        timestamp = str(int(time.time()))
        message.update(timestamp=timestamp, sign=_signature(secret, timestamp))
    return {}, message


def _wecom(
    style: str, title: str, body: str, link: str | None, plain: str, button: str
) -> dict[str, Any]:
    if style == "text":
        return {"msgtype": "text", "text": {"content": plain}}
    if style == "markdown":
        content = f"**{title}**\n{body}" + (f"\n[{button}]({link})" if link else "")
        return {"msgtype": "markdown", "markdown": {"content": content}}
    return {
        "msgtype": "template_card",
        "template_card": {
            "card_type": "text_notice",
            "main_title": {"title": title},
            "sub_title_text": body,
            "jump_list": [{"type": 1, "title": button, "url": link}],
            "card_action": {"type": 1, "url": link},
        },
    }


def _dingtalk(
    style: str, title: str, body: str, link: str | None, plain: str, button: str
) -> dict[str, Any]:
    if style == "text":
        return {"msgtype": "text", "text": {"content": plain}}
    text = f"### {title}\n\n{body}"
    if style == "markdown":
        suffix = f"\n\n[{button}]({link})" if link else ""
        return {"msgtype": "markdown", "markdown": {"title": title, "text": text + suffix}}
    card = {"title": title, "text": text, "singleTitle": button, "singleURL": link}
    return {"msgtype": "actionCard", "actionCard": card}


def _feishu(
    style: str, title: str, body: str, link: str | None, plain: str, button: str
) -> dict[str, Any]:
    if style == "text":
        return {"msg_type": "text", "content": {"text": plain}}
    if style == "markdown":
        line: list[dict[str, Any]] = [{"tag": "text", "text": body}]
        if link:
            line.append({"tag": "a", "text": f" {button}", "href": link})
        return {
            "msg_type": "post",
            "content": {"post": {"zh_cn": {"title": title, "content": [line]}}},
        }
    action = {
        "tag": "button",
        "text": {"tag": "plain_text", "content": button},
        "url": link,
        "type": "primary",
    }
    return {
        "msg_type": "interactive",
        "card": {
            "header": {"title": {"tag": "plain_text", "content": title}},
            "elements": [
                {"tag": "markdown", "content": body or title},
                {"tag": "action", "actions": [action]},
            ],
        },
    }


def bot_sender(settings: Settings) -> Callable[[JobContext], None]:
    def send(context: JobContext) -> None:
        payload = context.payload
        with transaction(context.engine) as conn:
            channel = conn.execute(
                sa.select(bot_channels).where(bot_channels.c.id == payload["channel_id"])
            ).first()
        if channel is None:
            return  # the channel was removed
        action = action_link(settings, payload)
        params, body = bot_message(
            channel.kind,
            channel.secret,
            for_everyone(payload["title"]),
            for_everyone(payload.get("body") or ""),
            action or record_link(settings, payload),
            payload.get("style"),
            DECIDE if action else OPEN,
        )
        url = channel.webhook_url
        if params:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(params)
        response = httpx.post(url, json=body, timeout=TIMEOUT, verify=tls())
        answer: dict[str, Any] = {}
        if response.headers.get("content-type", "").startswith("application/json"):
            answer = response.json()
        failed = answer.get("errcode", 0) or answer.get("code", 0)
        if not response.is_success or failed:
            raise SendFailed(
                f"{channel.kind} robot answered {response.status_code}: {response.text[:300]}"
            )

    return send
