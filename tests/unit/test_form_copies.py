"""A form copied with other fields answers for its own fields: what a form works out from its
fields is never carried over by ``model_copy`` (a role's copy without its hidden fields, a
field archived by a schema change)."""

from __future__ import annotations

from meridian.schema.model import Field, Form

NAME = Field(key="name", label="名称", type="text")
FLOOR = Field(key="floor", label="底价", type="money")


def _form() -> Form:
    return Form(key="deal", app_key="crm", label="商机", fields=(NAME, FLOOR), title_field="name")


def test_a_copy_without_a_field_does_not_list_it() -> None:
    form = _form()
    assert [f.key for f in form.active_fields] == ["name", "floor"]
    seen = form.model_copy(update={"fields": (NAME,)})
    assert [f.key for f in seen.active_fields] == ["name"]
    assert [f.key for f in form.active_fields] == ["name", "floor"]


def test_a_copy_with_a_field_archived_does_not_list_it() -> None:
    form = _form()
    assert len(form.active_fields) == 2
    archived = form.model_copy(
        update={"fields": (NAME, FLOOR.model_copy(update={"archived": True}))}
    )
    assert [f.key for f in archived.active_fields] == ["name"]
