"""Limits on what a client may send: JSON size and depth, file names, usernames.

Every refusal is a `DomainError` (a 4xx with a code and a message), never a RecursionError or a
database error later: a 5,000-level JSON document otherwise exhausts Python's recursion limit
while parsing (500), and a few hundred levels exhaust orjson's when the answer is written.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

from django.conf import settings

from kjda.errors import DomainError

MAX_NAME_CHARS = 255  # RecordFile.filename, and most file systems
# Django's own username characters (letters and digits of any script, and . @ + - _), which
# leaves out spaces, control characters and the formula starters = and ' of spreadsheets.
USERNAME_RE = re.compile(r"^[\w.@+-]+\Z")
MAX_USERNAME_CHARS = 150


def shown(value: str, limit: int = 300) -> str:
    """A name as received, with control characters made visible (\\x00, \\n…) and cut short."""
    out = "".join(ch if unicodedata.category(ch)[0] != "C" else repr(ch)[1:-1] for ch in value)
    return out if len(out) <= limit else out[:limit] + "…"


def _has_control(value: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in value)


def _too_deep(what: tuple[str, str], limit: int) -> DomainError:
    return DomainError("json_too_deep", f"{what[0]}嵌套超过 {limit} 层",
                       f"{what[1]} is nested deeper than {limit} levels",
                       detail={"max_depth": limit})


def json_check(data: Any, *, what: tuple[str, str]) -> Any:
    """Refuse a parsed JSON value nested deeper than KJDA_MAX_JSON_DEPTH (iteratively: the
    check itself must not recurse)."""
    limit = settings.KJDA_MAX_JSON_DEPTH
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, (list, tuple)):
            children = node
        else:
            continue
        if depth > limit:
            raise _too_deep(what, limit)
        stack.extend((child, depth + 1) for child in children)
    return data


def json_loads(raw: str | bytes, *, what: tuple[str, str],
               malformed: str = "json_malformed") -> Any:
    """Parse client JSON within KJDA_MAX_JSON_BYTES and KJDA_MAX_JSON_DEPTH. `what` names it
    in the messages (Chinese, English); `malformed` is the code for JSON that does not parse."""
    size = len(raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw)
    limit = settings.KJDA_MAX_JSON_BYTES
    if size > limit:
        raise DomainError("json_too_large", f"{what[0]}超过 {limit} 字节上限（{size} 字节）",
                          f"{what[1]} exceeds the {limit}-byte limit ({size} bytes)", status=413,
                          detail={"max_bytes": limit, "bytes": size})
    try:
        data = json.loads(raw)
    except RecursionError:
        raise _too_deep(what, settings.KJDA_MAX_JSON_DEPTH) from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError, invalid UTF-8
        raise DomainError(malformed, f"{what[0]}不是合法的 JSON（UTF-8）：{exc}",
                          f"{what[1]} is not valid JSON (UTF-8): {exc}") from None
    return json_check(data, what=what)


def filename_check(name: str) -> str:
    """A file name as sent: at most 255 characters, no control characters (refused, shown as
    received with the control characters made visible)."""
    if len(name) > MAX_NAME_CHARS:
        raise DomainError("filename_invalid",
                          f"文件名超过 {MAX_NAME_CHARS} 字符：{shown(name)}",
                          f"file name longer than {MAX_NAME_CHARS} characters: {shown(name)}",
                          detail={"filename": shown(name), "max_chars": MAX_NAME_CHARS})
    if _has_control(name):
        raise DomainError("filename_invalid", f"文件名含控制字符：{shown(name)}",
                          f"file name contains control characters: {shown(name)}",
                          detail={"filename": shown(name)})
    return name


def username_check(username: str) -> str:
    """A new username: 1–150 of Django's username characters (letters, digits, . @ + - _)."""
    if not username or len(username) > MAX_USERNAME_CHARS or not USERNAME_RE.match(username):
        raise DomainError("username_invalid",
                          f"用户名须为 1–{MAX_USERNAME_CHARS} 个字母、数字或 . @ + - _：{shown(username)}",
                          f"a username is 1–{MAX_USERNAME_CHARS} letters, digits or . @ + - _: "
                          f"{shown(username)}", detail={"username": shown(username)})
    return username
