"""Ids of records, users, files and every other row: positive 64-bit integers.

Every id column is a 64-bit integer, so a larger number can name nothing; handed to the
database it was a server error (issue 13). ``Id`` is the type of every id a client sends —
a path or query parameter, a body field — and it documents the range in the OpenAPI schema.
"""

from __future__ import annotations

from typing import Annotated, Any

from annotated_types import Interval

MAX_ID = 2**63 - 1

Id = Annotated[int, Interval(ge=1, le=MAX_ID)]

Position = Annotated[int, Interval(ge=0, le=MAX_ID)]
"""A place in a list a client names (a dashboard's card), counted from 0: bounded like an id,
so no integer a client sends is unbounded."""


def is_id(value: Any) -> bool:
    """Whether ``value`` is an integer that can be an id (not a bool, 1 to ``MAX_ID``)."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID
