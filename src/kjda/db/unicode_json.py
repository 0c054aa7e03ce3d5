"""JSON columns written as UTF-8 text instead of \\uXXXX escapes.

Django's JSONField writes `json.dumps(value)`, which escapes every non-ASCII character: a
record's check report (Chinese check names and reasons) took 5.6 KB that way and ~3.5 KB as
UTF-8, so the record row no longer spills onto an overflow page on SQLite (4 KB pages). The
stored value is the same JSON; PostgreSQL's jsonb keeps no text and is unaffected.
"""

from __future__ import annotations

import json


class UnicodeJSONEncoder(json.JSONEncoder):
    """`JSONField(encoder=UnicodeJSONEncoder)`: as json.dumps, without escaping non-ASCII."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs["ensure_ascii"] = False
        super().__init__(*args, **kwargs)
