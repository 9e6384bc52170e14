"""Attachment upload and download."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, UploadFile
from fastapi.responses import FileResponse

from meridian.http.deps import ActorDep, WorkspaceDep
from meridian.http.routing import ApiRoute
from meridian.records.files import attachment_field, readable_file, store_file
from meridian.schema.values.filetypes import served_type

router = APIRouter(route_class=ApiRoute, tags=["files"])

_NO_SCRIPTS = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
"""A stored file is shown as what it was sniffed to be and never runs as a page of ours (a
PDF keeps the browser's own viewer, which a sandbox would block)."""

_ANY_FILE = {"*/*": {"schema": {"type": "string", "format": "binary"}}}


@router.post("/files", status_code=201)
def upload_file(
    file: UploadFile,
    workspace: WorkspaceDep,
    actor: ActorDep,
    form: Annotated[str | None, Form(max_length=63)] = None,
    field: Annotated[str | None, Form(max_length=63)] = None,
) -> dict[str, Any]:
    """Store a file and return its ``id`` (a token) for an attachment field's list.

    With ``form`` and ``field`` (multipart fields beside ``file``) the upload is checked
    against that field's accepted types and size at once; without, against the default
    rules (no programs or scripts). Every record write checks the field's rules again.
    """
    with workspace.transaction() as conn:
        target = None
        if form is not None or field is not None:
            target = attachment_field(
                conn=conn, actor=actor, form_key=form or "", field_key=field or ""
            )
        stored = store_file(
            conn=conn,
            actor=actor,
            store=workspace.settings.file_store_dir,
            name=file.filename or "file",
            stream=file.file,
            max_bytes=workspace.settings.max_upload_bytes,
            field=target,
        )
    shown = ("id", "name", "kind", "content_type", "size", "sha256", "created_at")
    return {key: stored[key] for key in shown}


@router.get(
    "/files/{file_id}",
    response_class=FileResponse,
    responses={200: {"description": "The file, in its own media type", "content": _ANY_FILE}},
)
def download_file(file_id: str, workspace: WorkspaceDep, actor: ActorDep) -> FileResponse:
    """For its uploader until a record holds it, then for those who may read a record
    holding it; anyone else gets the 404 of a file that does not exist."""
    with workspace.read() as conn:
        stored = readable_file(conn=conn, actor=actor, token=file_id, tz=workspace.tz)
    return FileResponse(
        workspace.settings.file_store_dir / stored["storage_path"],
        media_type=served_type(stored["kind"]),
        filename=stored["name"],
        headers={
            "X-Content-Type-Options": "nosniff",
            **({} if stored["kind"] == "pdf" else {"Content-Security-Policy": _NO_SCRIPTS}),
        },
    )
