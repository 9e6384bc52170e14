"""Answers carrying records are written by orjson with the bytes the standard encoder wrote."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.responses import JSONResponse

from meridian.http.json_body import RecordsJSONResponse

RECORD = {
    "id": 7,
    "_version": 3,
    "name": '博瑞电子商务-北京40柜 "专线" \\ / \u2028 😀',
    "control": "\x00\x01\n\t\r\x1f\x7f",
    "expected_amount": "6840000.00",
    "carriers": ["ct", "cbn"],
    "lines": [{"id": 1, "qty": 2, "ok": True, "note": None}],
    "big": 2**63 - 1,
    "small": -(2**63),
    "ratio": 0.1,
    "empty": {},
}


@pytest.mark.parametrize(
    "content",
    [
        RECORD,
        {"items": [RECORD, RECORD], "next_cursor": "eyJrIjpbMV19", "total": None},
        {"beyond_64_bits": 2**70},  # orjson refuses it: the standard encoder writes it
        {1: "a key that is not text"},
    ],
)
def test_the_bytes_are_the_standard_encoders(content: Any) -> None:
    assert RecordsJSONResponse(content).body == JSONResponse(content).body
