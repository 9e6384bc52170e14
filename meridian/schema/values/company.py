"""Company names as keys for matching (issue 19): the one normalisation the import's cleansing,
its link lookups and the stored name keys of every record (``schema/name_keys.py``) share, so a
key computed from a file's cell equals the key the write path stored for the same name."""

from __future__ import annotations

import re

FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
"""Full-width ASCII (ＡＢＣ１２３，（）) and the ideographic space → their half-width forms."""
_BRACKETS = str.maketrans({"（": "(", "）": ")", "【": "(", "】": ")", "[": "(", "]": ")"})
_TRANSLATED = re.compile("[\uff01-\uff5e\u3000\u3010\u3011\\[\\]]")
"""What either translation changes: full-width ASCII, the ideographic space, 【】 and []."""
_SPACES = re.compile(r"\s+")
_SUFFIXES = (("有限责任公司", "有限公司"), ("股份有限公司", "股份公司"))
_LEGAL_SUFFIXES = ("股份有限公司", "有限责任公司", "有限公司", "股份公司", "集团公司", "公司")


def company_key(name: str) -> str:
    """The form of a company name two spellings of one company share, for matching only:
    half-width, brackets unified, no spaces, Latin letters lower-case, 有限责任公司 as 有限公司
    (so 腾讯科技（深圳）有限责任公司 and 腾讯科技 (深圳) 有限公司 have one key)."""
    text = name
    if _TRANSLATED.search(text) is not None:  # a translate costs ~6 µs on Han text; most need none
        text = text.translate(FULL_WIDTH).translate(_BRACKETS)
    text = _SPACES.sub("", text).lower()
    for long, short in _SUFFIXES:
        if text.endswith(long):
            text = text[: -len(long)] + short
    return text


def name_key(name: str) -> str:
    """The company key without its legal suffix (有限公司, 股份公司 …): what duplicate
    detection stores per record and scores two names on."""
    key = company_key(name)
    for suffix in _LEGAL_SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            return key[: -len(suffix)]
    return key
