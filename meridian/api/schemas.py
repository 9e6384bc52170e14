"""Request bodies of the JSON API (responses are the services' own dictionaries)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AppCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str
    label: str = Field(min_length=1, max_length=200)
    description: str = ""


class FormCreate(BaseModel):
    """A new form; field keys may be left out and are then made from the labels (pinyin)."""

    model_config = ConfigDict(extra="forbid")
    key: str | None = None
    label: str = Field(min_length=1, max_length=200)
    description: str = ""
    fields: list[dict[str, Any]] = []
    title_field: str | None = None
    validations: list[dict[str, Any]] = []


class FieldUpdate(BaseModel):
    """Any field settings to change, plus ``fill_value`` for blanks when making it required."""

    model_config = ConfigDict(extra="allow")
    fill_value: Any = None


class BulkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[dict[str, Any]]


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
