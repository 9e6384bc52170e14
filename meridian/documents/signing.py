"""The company's signing certificate and PAdES signatures on generated PDFs.

A certificate is uploaded once as PKCS#12 (key and chain). It is kept encrypted with the
workspace's seal key (``MERIDIAN_SEAL_KEY``, or a key file created in the data folder), never
in the clear; every signature made with it is written to the audit trail by the caller.
A signed PDF covers its whole file: any byte changed afterwards breaks the signature, which
:func:`verify_pdf` (and ``meridian documents verify``) detects.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    pkcs12,
)
from cryptography.utils import CryptographyDeprecationWarning
from sqlalchemy.engine import Connection

from meridian.access.manage import require_admin
from meridian.core import clock
from meridian.core.actor import Actor
from meridian.core.i18n import Text
from meridian.core.late_imports import IMPORTING
from meridian.db.tables import signing_keys
from meridian.errors import Conflict, FieldError, ValidationFailed
from meridian.events.audit import audit
from meridian.settings import Settings


@contextmanager
def _importing_pyhanko() -> Iterator[None]:
    """Where pyHanko is imported: where a PDF is signed or verified, not at start (it pulls in
    aiohttp; ``core/late_imports.py``). It imports cryptography's DSA support, which warns
    that DSA is deprecated; DSA is never used here (keys are RSA or EC)."""
    with IMPORTING, warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        yield


MAX_PKCS12_BYTES = 1024 * 1024
SIGNATURE_BYTES = 16_384
"""Room kept for the CMS signature: enough for a key and a chain of a few certificates, and
known up front, so no trial signature is made to measure it."""


def seal_key(settings: Settings) -> Fernet:
    """The key that encrypts signing keys: from settings, else a key file in the data folder
    (created, readable by the owner only, on first use)."""
    if settings.seal_key:
        return Fernet(settings.seal_key.encode())
    path = settings.data_dir / "seal.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(Fernet.generate_key())
    return Fernet(Path(path).read_bytes().strip())


def add_signing_key(
    *, conn: Connection, actor: Actor, settings: Settings, pkcs12_data: bytes, password: str
) -> dict[str, Any]:
    """Store a PKCS#12 certificate as the company's signing key (retiring the previous one)."""
    require_admin(actor)
    if len(pkcs12_data) > MAX_PKCS12_BYTES:
        raise ValidationFailed(
            [
                FieldError(
                    "file",
                    "too_large",
                    Text(
                        "a PKCS#12 file has at most {limit} bytes",
                        limit=MAX_PKCS12_BYTES,
                    ),
                    len(pkcs12_data),
                )
            ]
        )
    try:
        key, certificate, chain = pkcs12.load_key_and_certificates(
            pkcs12_data, password.encode() if password else None
        )
    except ValueError:
        raise ValidationFailed(
            [
                FieldError(
                    "file",
                    "invalid_pkcs12",
                    Text("not a PKCS#12 file, or the wrong password"),
                )
            ]
        ) from None
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)) or certificate is None:
        raise ValidationFailed(
            [
                FieldError(
                    "file",
                    "incomplete_pkcs12",
                    Text("the file needs an RSA or EC private key and its certificate"),
                )
            ]
        )
    not_after = certificate.not_valid_after_utc
    if not_after <= clock.utcnow(conn):
        raise ValidationFailed(
            [
                FieldError(
                    "file",
                    "certificate_expired",
                    Text("the certificate expired on {value}", value=not_after.date()),
                    not_after.isoformat(),
                )
            ]
        )
    clear = pkcs12.serialize_key_and_certificates(
        b"meridian",
        key,
        certificate,
        chain or None,
        NoEncryption(),
    )
    fingerprint = hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest()
    conn.execute(signing_keys.update().where(signing_keys.c.active).values(active=False))
    result = conn.execute(
        signing_keys.insert().values(
            subject=certificate.subject.rfc4514_string()[:400],
            fingerprint=fingerprint,
            not_after=not_after,
            sealed=seal_key(settings).encrypt(clear).decode(),
            active=True,
            created_by=actor.user_id,
            created_at=clock.utcnow(conn),
        )
    )
    assert result.inserted_primary_key is not None
    key_id = int(result.inserted_primary_key[0])
    audit(
        conn,
        actor_id=actor.user_id,
        action="signing_key_added",
        object_type="signing_key",
        object_id=key_id,
        detail={"subject": certificate.subject.rfc4514_string(), "fingerprint": fingerprint},
    )
    return {
        "id": key_id,
        "subject": certificate.subject.rfc4514_string(),
        "fingerprint": fingerprint,
        "not_after": not_after.isoformat(),
    }


@dataclass(frozen=True)
class CompanySigner:
    """The active signing key, decrypted for one use."""

    key_id: int
    fingerprint: str
    signer: Any


def active_signer(*, conn: Connection, settings: Settings) -> CompanySigner:
    """The newest active signing key; ``Conflict`` when none is uploaded or it has expired."""
    row = conn.execute(
        sa.select(signing_keys)
        .where(signing_keys.c.active)
        .order_by(signing_keys.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        raise Conflict(
            Text(
                "no signing certificate is uploaded; an administrator uploads the company's "
                "PKCS#12 certificate first"
            ),
            reason="no_signing_key",
        )
    if row.not_after <= clock.utcnow(conn):
        raise Conflict(
            Text("the signing certificate expired on {value}", value=row.not_after.date()),
            reason="signing_key_expired",
        )
    try:
        clear = seal_key(settings).decrypt(row.sealed.encode())
    except InvalidToken:
        raise Conflict(
            Text("the signing certificate cannot be decrypted with this workspace's seal key"),
            reason="seal_key_mismatch",
        ) from None
    with _importing_pyhanko():
        from pyhanko.sign import signers
    signer = signers.SimpleSigner.load_pkcs12_data(clear, other_certs=[])
    return CompanySigner(row.id, row.fingerprint, signer)


_T = TypeVar("_T")


def _in_a_thread_of_its_own(work: Callable[[], _T]) -> _T:
    """Run one of pyHanko's synchronous calls where no event loop runs.

    They start their own loop with ``asyncio.run``, which refuses to run inside a thread whose
    loop is already running (an async caller, a browser driver in the same process): signing
    then failed, and verifying reported a good signature as broken. A fresh thread has no loop.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pyhanko") as pool:
        return pool.submit(work).result()


def sign_pdf(pdf: bytes, signer: CompanySigner, *, reason: str, name: str) -> bytes:
    """The PDF with an invisible PAdES signature over the whole file."""
    with _importing_pyhanko():
        from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
        from pyhanko.sign import fields, signers
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    metadata = signers.PdfSignatureMetadata(
        field_name="CompanySignature",
        subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        reason=reason[:200],
        name=name[:200],
    )
    output = _in_a_thread_of_its_own(
        lambda: signers.sign_pdf(
            writer, metadata, signer=signer.signer, bytes_reserved=SIGNATURE_BYTES
        )
    )
    signed: bytes = output.getvalue()
    return signed


@dataclass(frozen=True)
class Verification:
    """What a PDF's signatures say.

    :ivar intact: every signature is intact and cryptographically valid, and the last one
        covers the whole file (nothing was appended after it).
    :ivar signatures: per signature: signer, signing time, intact, valid, coverage.
    :ivar problem: why it fails, when it does.
    """

    intact: bool
    signatures: list[dict[str, Any]]
    problem: str = ""


def verify_pdf(data: bytes) -> Verification:
    """Check every signature of a PDF: intact, made with its certificate's key, and the
    last one covering the whole file."""
    with _importing_pyhanko():
        from pyhanko.pdf_utils.reader import PdfFileReader
        from pyhanko.sign.validation import validate_pdf_signature
        from pyhanko_certvalidator import ValidationContext
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        embedded = list(reader.embedded_signatures)
    except Exception as exc:  # a damaged file is a failed verification, whatever broke
        return Verification(False, [], f"not a readable PDF: {exc}")
    if not embedded:
        return Verification(False, [], "the PDF has no signature")
    results: list[dict[str, Any]] = []
    for signature in embedded:
        try:
            # Trust is not the question here (a company certificate is usually self-issued):
            # the signer's own certificate is taken as the anchor, so what is checked is that
            # the signature is the certificate's and the bytes are the ones it signed.
            anchor = ValidationContext(trust_roots=[signature.signer_cert], allow_fetching=False)
            status = _in_a_thread_of_its_own(
                partial(validate_pdf_signature, signature, anchor, skip_diff=False)
            )
        except Exception as exc:  # a signature that cannot be checked does not verify
            return Verification(False, results, f"a signature cannot be checked: {exc}")
        signed_at = status.signer_reported_dt
        results.append(
            {
                "field": signature.field_name,
                "signer": status.signing_cert.subject.human_friendly,
                "signed_at": signed_at.astimezone(UTC).isoformat() if signed_at else None,
                "intact": bool(status.intact),
                "valid": bool(status.valid),
                "coverage": status.coverage.name if status.coverage else None,
            }
        )
    broken = [r for r in results if not (r["intact"] and r["valid"])]
    if broken:
        return Verification(False, results, "a signature does not match the file")
    if results[-1]["coverage"] != "ENTIRE_FILE":
        return Verification(False, results, "the file was changed after its last signature")
    return Verification(True, results)
