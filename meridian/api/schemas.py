"""Request bodies of the JSON API (responses are the services' own dictionaries)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from meridian.core.ids import Id


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


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str
    password: str


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    old_password: str
    new_password: str


class RoleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str
    label: str


class RoleRename(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str


class DepartmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    parent_id: Id | None = None
    manager_id: Id | None = None


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str
    name: str = ""
    password: str
    roles: list[str] = ["member"]
    department: str | Id | None = None
    other_departments: list[Id] = []
    manager_id: Id | None = None


class RecordIds(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[Id]


class BulkUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[Id]
    values: dict[str, Any]


class OwnerTransfer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[Id]
    owner_id: Id


class RecordMerge(BaseModel):
    """Merge record ``other`` into the record addressed; ``fields`` chooses per field:
    ``keep`` (the default), ``other``, or ``both`` for lists."""

    model_config = ConfigDict(extra="forbid")
    other: Id
    fields: dict[str, str] = Field(default_factory=dict)


class Share(BaseModel):
    model_config = ConfigDict(extra="forbid")
    level: str = "read"
    user_id: Id | None = None
    department_id: Id | None = None
