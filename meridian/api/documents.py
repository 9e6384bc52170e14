"""Documents: a form's print templates, generating a record's document, its files, the
company's seal, logo and signing certificate, and batches."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Form, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField

from meridian.core.ids import Id
from meridian.documents import batches, generate, reading, signing, templates, word_pdf
from meridian.documents.assets import set_asset
from meridian.http.deps import ActorDep, LocaleDep, WorkspaceDep
from meridian.http.routing import ApiRoute
from meridian.schema.catalog import get_form

router = APIRouter(route_class=ApiRoute, tags=["documents"])


class DocumentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template: str = PydanticField(min_length=1, max_length=63)


class BatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template: str = PydanticField(min_length=1, max_length=63)
    ids: list[int] = PydanticField(min_length=1, max_length=batches.MAX_BATCH)
    output: str = "pdf"


@router.get("/forms/{form_key}/templates")
def list_templates(form_key: str, workspace: WorkspaceDep, actor: ActorDep) -> dict[str, Any]:
    """The form's templates (newest versions), for anyone who may read the form."""
    with workspace.read() as conn:
        form = get_form(conn, form_key)
        items = templates.list_templates(conn=conn, actor=actor, form=form)
    return {"items": items}


@router.post("/forms/{form_key}/templates", status_code=201)
def save_template(
    form_key: str, body: dict[str, Any], workspace: WorkspaceDep, actor: ActorDep
) -> dict[str, Any]:
    """Save a template as its next version (form administrators)."""
    with workspace.transaction() as conn:
        form = get_form(conn, form_key)
        return templates.save_template(
            conn=conn, actor=actor, form=form, draft=body, tz=workspace.tz
        )


@router.get("/forms/{form_key}/templates/{key}")
def get_template(
    form_key: str, key: str, workspace: WorkspaceDep, actor: ActorDep, version: Id | None = None
) -> dict[str, Any]:
    """One template (its newest version, or ``?version=N``) with its versions (form
    administrators)."""
    with workspace.read() as conn:
        form = get_form(conn, form_key)
        templates.require_template_manager(conn=conn, actor=actor, form=form)
        found = templates.get_template(conn=conn, form_key=form_key, key=key, version=version)
        versions = templates.template_versions(conn=conn, form_key=form_key, key=key)
    return {**found, "versions": versions}


@router.post("/forms/{form_key}/records/{record_id}/documents", status_code=201)
def create_document(
    form_key: str, record_id: Id, body: DocumentCreate, workspace: WorkspaceDep, actor: ActorDep
) -> dict[str, Any]:
    """Generate, number and store the record's document from ``template``; returns its
    ``file_id`` and ``number``. Needs read access to the record."""
    return generate.generate_document(
        engine=workspace.engine,
        actor=actor,
        settings=workspace.settings,
        form_key=form_key,
        record_id=record_id,
        template_key=body.template,
        tz=workspace.tz,
    )


@router.get("/forms/{form_key}/records/{record_id}/documents")
def list_documents(
    form_key: str, record_id: Id, workspace: WorkspaceDep, actor: ActorDep, locale: LocaleDep
) -> dict[str, Any]:
    with workspace.read() as conn:
        items = reading.list_documents(
            conn=conn,
            actor=actor,
            form_key=form_key,
            record_id=record_id,
            tz=workspace.tz,
            locale=locale,
        )
    return {"items": items}


@router.get("/forms/{form_key}/records/{record_id}/documents/{document_id}/file")
def download_document(
    form_key: str, record_id: Id, document_id: Id, workspace: WorkspaceDep, actor: ActorDep
) -> FileResponse:
    """The document's file, for whoever may read the record."""
    with workspace.read() as conn:
        found = reading.document_file(
            conn=conn,
            actor=actor,
            form_key=form_key,
            record_id=record_id,
            document_id=document_id,
            tz=workspace.tz,
        )
    return FileResponse(
        workspace.settings.file_store_dir / found["storage_path"],
        media_type=found["content_type"],
        filename=found["name"],
    )


@router.get("/forms/{form_key}/records/{record_id}/documents/{document_id}/pdf")
def download_document_pdf(
    form_key: str, record_id: Id, document_id: Id, workspace: WorkspaceDep, actor: ActorDep
) -> FileResponse:
    """The document as PDF. A Word document's PDF is made by LibreOffice as a job after
    generation; until it is there, 409 says why: ``pdf_pending`` (being converted),
    ``conversion_failed``, ``pdf_not_requested`` (POST to this address first) or
    ``libreoffice_missing`` (not installed on this server)."""
    with workspace.read() as conn:
        found = reading.document_file(
            conn=conn,
            actor=actor,
            form_key=form_key,
            record_id=record_id,
            document_id=document_id,
            tz=workspace.tz,
        )
    if found["pdf"] != "ready":
        raise word_pdf.pdf_refusal(found["pdf"], found["pdf_error"])
    path = found["storage_path"]
    if found["content_type"] != "application/pdf":
        path = found["pdf_storage_path"]
    name = found["name"].rsplit(".", 1)[0] + ".pdf"
    return FileResponse(
        workspace.settings.file_store_dir / path,
        media_type="application/pdf",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"},
    )


@router.post("/forms/{form_key}/records/{record_id}/documents/{document_id}/pdf", status_code=202)
def request_document_pdf(
    form_key: str, record_id: Id, document_id: Id, workspace: WorkspaceDep, actor: ActorDep
) -> dict[str, Any]:
    """Ask for a Word document's PDF (one made before LibreOffice was installed, or whose
    conversion failed): queued as a job; 409 ``libreoffice_missing`` where it is not
    installed. Returns the PDF's state."""
    with workspace.transaction() as conn:
        found = reading.document_file(
            conn=conn,
            actor=actor,
            form_key=form_key,
            record_id=record_id,
            document_id=document_id,
            tz=workspace.tz,
        )
        if found["pdf"] == "missing":
            raise word_pdf.pdf_refusal("missing", None)
        if found["pdf"] in ("none", "failed"):
            word_pdf.queue_pdf(conn, document_id)
            return {"pdf": "converting"}
    return {"pdf": found["pdf"]}


@router.put("/documents/assets/{name}")
def put_asset(
    name: str, file: UploadFile, workspace: WorkspaceDep, actor: ActorDep
) -> dict[str, Any]:
    """Replace the company's ``logo`` or ``seal`` image (administrators)."""
    with workspace.transaction() as conn:
        return set_asset(
            conn=conn,
            actor=actor,
            store=workspace.settings.file_store_dir,
            name=name,
            filename=file.filename or name,
            content_type=file.content_type or "",
            stream=file.file,
        )


@router.post("/documents/signing-keys", status_code=201)
def add_signing_key(
    file: UploadFile,
    workspace: WorkspaceDep,
    actor: ActorDep,
    password: str = Form(""),
) -> dict[str, Any]:
    """Upload the company's certificate and key as PKCS#12 (administrators); it signs the
    documents of templates marked ``sign`` from now on."""
    data = file.file.read(signing.MAX_PKCS12_BYTES + 1)
    with workspace.transaction() as conn:
        return signing.add_signing_key(
            conn=conn,
            actor=actor,
            settings=workspace.settings,
            pkcs12_data=data,
            password=password,
        )


@router.post("/forms/{form_key}/documents/batches", status_code=202)
def create_batch(
    form_key: str, body: BatchCreate, workspace: WorkspaceDep, actor: ActorDep
) -> dict[str, Any]:
    """Queue one document per record into one PDF (``output: "pdf"``) or a ZIP; poll the
    batch for its progress."""
    with workspace.transaction() as conn:
        return batches.create_batch(
            conn=conn,
            actor=actor,
            form_key=form_key,
            template_key=body.template,
            record_ids=body.ids,
            output=body.output,
        )


@router.get("/documents/batches/{batch_id}")
def get_batch(
    batch_id: Id, workspace: WorkspaceDep, actor: ActorDep, locale: LocaleDep
) -> dict[str, Any]:
    with workspace.read() as conn:
        return batches.get_batch(conn=conn, actor=actor, batch_id=batch_id, locale=locale)


@router.get("/documents/batches/{batch_id}/file")
def download_batch(batch_id: Id, workspace: WorkspaceDep, actor: ActorDep) -> FileResponse:
    with workspace.read() as conn:
        found = batches.batch_file(conn=conn, actor=actor, batch_id=batch_id)
    return FileResponse(
        workspace.settings.file_store_dir / found["storage_path"],
        media_type=found["content_type"],
        filename=found["name"],
    )
