"""Attachment upload and download."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, UploadFile
from fastapi.responses import FileResponse

from meridian.http.deps import ActorDep, WorkspaceDep
from meridian.records.files import readable_file, store_file

router = APIRouter(tags=["files"])


@router.post("/files", status_code=201)
def upload_file(file: UploadFile, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    """Store a file; put its ``id`` into an attachment field's list."""
    with workspace.transaction() as conn:
        stored = store_file(
            conn=conn,
            actor=actor,
            store=workspace.settings.file_store_dir,
            name=file.filename or "file",
            content_type=file.content_type or "application/octet-stream",
            stream=file.file,
        )
    return {k: v for k, v in stored.items() if k != "storage_path"}


@router.get("/files/{file_id}")
def download_file(file_id: int, workspace: WorkspaceDep, actor: ActorDep) -> FileResponse:
    """Only for its uploader and for those who may read a record holding it (else 404)."""
    with workspace.read() as conn:
        stored = readable_file(conn=conn, actor=actor, file_id=file_id, tz=workspace.tz)
    return FileResponse(
        workspace.settings.file_store_dir / stored["storage_path"],
        media_type=stored["content_type"],
        filename=stored["name"],
    )
