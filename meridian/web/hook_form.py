"""An inbound hook's mapping from the administration page's form: one row per field of the
hook's form (a payload path, value translations, a default, or a constant), the array that
holds one record per element, the owner, and the field that finds an existing record."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData

from meridian.schema.model import Form


def _translations(text: str) -> dict[str, str]:
    """``critical=P1`` lines (or ``;``-separated) as {payload value: field value}."""
    pairs = [part.split("=", 1) for part in text.replace(";", "\n").splitlines() if "=" in part]
    return {source.strip(): value.strip() for source, value in pairs if source.strip()}


def mapping_from(posted: FormData, form: Form) -> dict[str, Any]:
    """The mapping the page's form describes; the hook service checks it."""
    fields: dict[str, Any] = {}
    constants: dict[str, Any] = {}
    for field in form.active_fields:
        path = str(posted.get(f"path.{field.key}", "")).strip()
        table = _translations(str(posted.get(f"map.{field.key}", "")))
        default = str(posted.get(f"default.{field.key}", "")).strip()
        constant = str(posted.get(f"const.{field.key}", "")).strip()
        if path and (table or default):
            fields[field.key] = {
                "path": path,
                **({"map": table} if table else {}),
                **({"default": default} if default else {}),
            }
        elif path:
            fields[field.key] = path
        elif constant:
            constants[field.key] = constant
    mapping: dict[str, Any] = {"fields": fields}
    if constants:
        mapping["constants"] = constants
    items = str(posted.get("items", "")).strip()
    if items:
        mapping["items"] = items
    kind = str(posted.get("owner", ""))
    if kind == "user":
        mapping["owner"] = {"user": _number(posted.get("owner_user"))}
    elif kind in ("round_robin", "least_loaded"):
        mapping["owner"] = {"strategy": kind, "department": _number(posted.get("owner_department"))}
    match = str(posted.get("match_field", "")).strip()
    if match:
        mapping["match"] = {"field": match, "path": str(posted.get("match_path", "")).strip()}
    return mapping


def _number(value: Any) -> Any:
    text = str(value or "").strip()
    return int(text) if text.isdecimal() else text
