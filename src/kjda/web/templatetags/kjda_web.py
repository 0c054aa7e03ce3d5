"""Small display filters for the KJDA templates."""

from __future__ import annotations

import re
from datetime import datetime

from django import template
from django.utils.translation import get_language, gettext

from kjda.errors import DomainError
from kjda.web.labels import EVENT_ACTIONS, EVENT_SOURCES, NOTICE_REASONS

register = template.Library()
_NUMBER = re.compile(r"\d+")


def _english() -> bool:
    return (get_language() or "").startswith("en")


@register.filter
def tr(value):
    """Translate a Chinese data value (a choice label, a rule name) listed in `web/labels.py`."""
    if value in (None, ""):
        return value
    return gettext(str(value))


@register.filter
def bi(value):
    """Pick one side of a bilingual text `中文 / English` (check reasons, event descriptions).

    The English side is used only when it carries every number of the Chinese side
    (`2 个文件 / files` would lose the count): otherwise both sides are shown."""
    text = "" if value is None else str(value)
    if text.count(" / ") != 1:
        return text
    zh, en = text.split(" / ")
    if not _english():
        return zh
    return en if set(_NUMBER.findall(zh)) <= set(_NUMBER.findall(en)) else text


@register.filter
def error_message(exc: DomainError) -> str:
    """A DomainError's message in the language of the page."""
    return exc.en if _english() else exc.zh


@register.filter
def money(value) -> str:
    """An amount with thousands separators and two decimals (Decimal in, never float)."""
    if value in (None, ""):
        return ""
    return f"{value:,.2f}"


@register.filter
def iso_datetime(value: str | None):
    """An ISO 8601 timestamp string (as stored in a check report) as an aware datetime."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


@register.filter
def result_class(result: str) -> str:
    return {"pass": "ok", "fail": "bad", "warn": "warn", "skip": "muted"}.get(result, "")


def _coded(labels: dict, value) -> str:
    """A code stored in English (`approved`, `invoice_missing`) as its label in the page's
    language; an unknown code is shown as it is."""
    label = labels.get(value)
    return gettext(label) if label else ("" if value is None else str(value))


@register.filter
def event_action(value) -> str:
    return _coded(EVENT_ACTIONS, value)


@register.filter
def event_source(value) -> str:
    return _coded(EVENT_SOURCES, value)


@register.filter
def notice_reason(value) -> str:
    return _coded(NOTICE_REASONS, value)
