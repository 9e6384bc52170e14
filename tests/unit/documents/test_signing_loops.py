"""Signing and verifying work whatever event loop the calling thread is running."""

from __future__ import annotations

import asyncio
import warnings
from concurrent.futures import ThreadPoolExecutor

from cryptography.utils import CryptographyDeprecationWarning
from weasyprint import HTML

from meridian.documents.signing import CompanySigner, sign_pdf, verify_pdf
from tests.documents_support import PASSWORD, company_pkcs12

with warnings.catch_warnings():
    # As ``signing`` imports it: pyHanko imports cryptography's DSA support, which warns.
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    from pyhanko.sign import signers


def test_a_pdf_is_signed_and_verified_from_inside_a_running_event_loop() -> None:
    """pyHanko starts a loop of its own; inside a running one (an async caller, a browser
    driver in the same process) signing failed and a good signature read as broken."""
    pdf = HTML(string="<p>报价单 Q-2026-0001</p>").write_pdf()
    signer = CompanySigner(
        key_id=1,
        fingerprint="test",
        signer=signers.SimpleSigner.load_pkcs12_data(
            company_pkcs12(), other_certs=[], passphrase=PASSWORD.encode()
        ),
    )

    async def inside_a_loop() -> tuple[bool, bool]:
        signed = sign_pdf(pdf, signer, reason="quote", name="子午")
        tampered = bytearray(signed)
        tampered[len(tampered) // 3] ^= 0x01
        return verify_pdf(signed).intact, verify_pdf(bytes(tampered)).intact

    # The loop runs in a thread of the test's own, whatever the test process's main thread runs.
    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(asyncio.run, inside_a_loop()).result() == (True, False)
