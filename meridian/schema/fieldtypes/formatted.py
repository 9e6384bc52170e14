"""Text with a format of its own: email, phone, URL, region, USCC, IP and auto-numbers."""

from __future__ import annotations

from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from meridian.core.i18n import Text
from meridian.errors import InvalidValue
from meridian.schema.fieldtypes.base import (
    FieldType,
    Names,
    SchemaOf,
    ValueContext,
    require_text,
)
from meridian.schema.fieldtypes.filtering import COMPARING, TEXT_MATCHING
from meridian.schema.model import Field, Form
from meridian.schema.values.autonumber import parse_pattern
from meridian.schema.values.network import normalize_ip
from meridian.schema.values.phone import normalize_phone
from meridian.schema.values.region import normalize_region, region_label
from meridian.schema.values.uscc import normalize_uscc
from meridian.schema.values.web import normalize_email, normalize_url


class _NormalisedText(FieldType):
    """A string checked and normalised by one function from ``meridian.schema.values``."""

    searchable = True
    code = "invalid_text"
    retype_family = "text"
    filter_operators: ClassVar[tuple[str, ...]] = COMPARING + TEXT_MATCHING

    def normalise(self, field: Field, text: str) -> str:
        raise NotImplementedError

    def sql_type(self, field: Field) -> sa.types.TypeEngine[Any]:
        return sa.String(255)

    def parse(self, field: Field, value: Any, ctx: ValueContext) -> Any:
        text = require_text(value, self.code).strip()
        return self.normalise(field, text) if text else None

    def report_kind(self, field: Field) -> str | None:
        return "text"


class EmailType(_NormalisedText):
    name = "email"
    duplicate_key = True
    always_indexed = True  # deduplication looks every imported value up
    designer_settings: ClassVar[tuple[str, ...]] = ("unique", "default")
    code = "invalid_email"
    input_type = "email"

    def presentation(self, field: Field) -> str:
        return "email"

    def normalise(self, field: Field, text: str) -> str:
        return normalize_email(text)

    def json_schema(self, field: Field, schema_of: SchemaOf) -> dict[str, Any]:
        return {"type": "string", "format": "email"}


class PhoneType(_NormalisedText):
    """Stored in E.164 so that one number typed three ways is one value."""

    name = "phone"
    duplicate_key = True
    always_indexed = True  # deduplication looks every imported value up
    import_cleanser = "phone_number"
    designer_settings: ClassVar[tuple[str, ...]] = ("unique", "default")
    input_type = "tel"
    code = "invalid_phone"

    def normalise(self, field: Field, text: str) -> str:
        return normalize_phone(text)

    def json_schema(self, field: Field, schema_of: SchemaOf) -> dict[str, Any]:
        return {"type": "string", "description": "stored in E.164, e.g. +8613800138000"}


class UrlType(_NormalisedText):
    name = "url"
    designer_settings: ClassVar[tuple[str, ...]] = ("unique", "default")
    code = "invalid_url"
    searchable = False
    input_type = "url"

    def presentation(self, field: Field) -> str:
        return "url"

    def normalise(self, field: Field, text: str) -> str:
        return normalize_url(text)

    def json_schema(self, field: Field, schema_of: SchemaOf) -> dict[str, Any]:
        return {"type": "string", "format": "uri"}


class UsccType(_NormalisedText):
    """统一社会信用代码, checked per GB 32100-2015."""

    name = "uscc"
    duplicate_key = True
    always_indexed = True  # deduplication looks every imported value up
    code = "invalid_uscc"

    def normalise(self, field: Field, text: str) -> str:
        return normalize_uscc(text)

    def json_schema(self, field: Field, schema_of: SchemaOf) -> dict[str, Any]:
        return {"type": "string", "pattern": "^[0-9A-HJ-NPQRTUWXY]{18}$"}


class RegionType(_NormalisedText):
    """A China administrative division code; names such as 广东省/深圳市/南山区 are accepted."""

    name = "region"
    searchable = False
    code = "invalid_region"
    filter_operators: ClassVar[tuple[str, ...]] = COMPARING

    def presentation(self, field: Field) -> str:
        return "region"

    def template_value(self, field: Field, value: Any, tz: ZoneInfo, names: Names) -> Any:
        return region_label(value)

    def report_kind(self, field: Field) -> str | None:
        return "region"

    def normalise(self, field: Field, text: str) -> str:
        return normalize_region(text)

    def json_schema(self, field: Field, schema_of: SchemaOf) -> dict[str, Any]:
        return {"type": "string", "pattern": r"^\d{6}$", "description": "administrative code"}


class IpType(_NormalisedText):
    name = "ip"
    code = "invalid_ip"

    def normalise(self, field: Field, text: str) -> str:
        return normalize_ip(text, field.ip_kind)

    def json_schema(self, field: Field, schema_of: SchemaOf) -> dict[str, Any]:
        return {"type": "string", "description": "IPv4/IPv6 address or CIDR network"}


class AutoNumberType(FieldType):
    """Assigned by the server from a gap-free sequence when the record is created."""

    name = "auto_number"
    designer_settings: ClassVar[tuple[str, ...]] = ("unique", "auto_pattern")
    searchable = True
    computed = True
    numbered = True
    retype_family = "text"
    widget = "computed"
    filter_operators: ClassVar[tuple[str, ...]] = COMPARING + TEXT_MATCHING

    def sql_type(self, field: Field) -> sa.types.TypeEngine[Any]:
        return sa.String(64)

    def check_definition(self, field: Field, form: Form) -> list[str]:
        if not field.auto_pattern:
            return ["an auto-number field needs a pattern such as HT-{YYYY}-{0000}"]
        try:
            parse_pattern(field.auto_pattern)
        except InvalidValue as exc:
            return [exc.message]
        return []

    def parse(self, field: Field, value: Any, ctx: ValueContext) -> Any:
        raise InvalidValue("read_only", Text("auto-numbers are assigned by the server"))

    def report_kind(self, field: Field) -> str | None:
        return "text"

    def json_schema(self, field: Field, schema_of: SchemaOf) -> dict[str, Any]:
        return {"type": "string", "readOnly": True}
