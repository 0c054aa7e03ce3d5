"""Archive numbers (档号) per DA/T 94 §8.7 and DA/T 13-2022: `[全宗号-]类别号-案卷号-件号`.

The class code (类别号) is built as in DA/T 94 App. D.1: 门类代码·年度·保管期限, joined with the
middle dot U+00B7; levels are joined with a half-width hyphen; 案卷号 and 件号 are zero-padded
to 4 digits (a class that outgrows 9999 items keeps counting with 5 digits rather than failing).
"""

from __future__ import annotations

import re
from datetime import date

from django.db import connection

from kjda.archives.models import (
    ArchiveNoCounter,
    Category,
    Fonds,
    Retention,
    retention_years,
)
from kjda.archives.reference import category_code_for

DOT = "\u00b7"
ARCHIVE_NO_RE = re.compile(
    r"^(?:(?P<fonds>[A-Z0-9]{4})-)?"
    r"(?P<class>[A-Z0-9]{1,10}(?:·[A-Z0-9]{1,10})*·\d{4}·(?:Y|D[1-9]\d{0,2}|FA5)(?:·[A-Z0-9]{1,10})*)"
    r"(?:-(?P<volume>\d{4,}))?-(?P<item>\d{4,})$"
)


def category_code(*, fonds: Fonds, category: Category) -> str:
    return category_code_for(fonds, category)


def class_code_build(*, fonds: Fonds, category: Category, fiscal_year: int, retention: str) -> str:
    return DOT.join([category_code(fonds=fonds, category=category), f"{fiscal_year:04d}", retention])


def archive_no_format(
    *, fonds: Fonds, class_code: str, item_no: int, volume_no: int | None = None
) -> str:
    parts = [fonds.code] if fonds.archive_no_with_fonds else []
    parts.append(class_code)
    if volume_no is not None:
        parts.append(f"{volume_no:04d}")
    parts.append(f"{item_no:04d}")
    return "-".join(parts)


VOLUME_TEMPLATE_FIELDS = ("fonds", "class_code", "category_code", "year", "retention", "volume_no")
_TEMPLATE_FIELD = re.compile(r"{(\w+)(?::(0?\d{0,2}d))?}")


def volume_template_default(*, fonds: Fonds) -> str:
    """DA/T 94 §8.7: `[全宗号-]类别号-案卷号`, the 案卷号 four digits."""
    return ("{fonds}-" if fonds.archive_no_with_fonds else "") + "{class_code}-{volume_no:04d}"


def volume_template_problem(template: str) -> tuple[str, str] | None:
    """Why a 案卷档号 template can't be used, as (Chinese, English), or None. It must name the
    class and the volume number (so that numbers are unique) and only the known fields, and
    give a number without spaces that leaves room for the 4-digit 件号."""
    names = [m.group(1) for m in _TEMPLATE_FIELD.finditer(template)]
    unknown = sorted(set(names) - set(VOLUME_TEMPLATE_FIELDS))
    if unknown:
        return (f"未知字段：{', '.join(unknown)}", f"unknown fields: {', '.join(unknown)}")
    if "volume_no" not in names or not ({"class_code"} <= set(names)
                                        or {"category_code", "year", "retention"} <= set(names)):
        return ("格式须包含 {volume_no} 和 {class_code}（或 {category_code}{year}{retention}）",
                "the format must contain {volume_no} and {class_code} (or {category_code}, "
                "{year} and {retention})")
    leftover = _TEMPLATE_FIELD.sub("", template)
    if "{" in leftover or "}" in leftover or any(ch.isspace() for ch in leftover):
        return ("格式中有不成对的括号或空白", "the format has stray braces or whitespace")
    try:
        sample = volume_template_apply(template, fonds_code="Z001", class_code="PZ·2024·D30",
                                       category_code="PZ", year=2024, retention="D30",
                                       volume_no=9999)
    except (ValueError, KeyError, IndexError):
        return ("格式无法套用（数字格式只能用于 year、volume_no）",
                "the format cannot be applied (number formats only on year and volume_no)")
    if len(sample) > 74:
        return ("生成的案卷档号过长（最多 74 字符）", "the volume number would be too long (max 74)")
    return None


def volume_template_apply(template: str, *, fonds_code: str, class_code: str, category_code: str,
                          year: int, retention: str, volume_no: int) -> str:
    return template.format(fonds=fonds_code, class_code=class_code, category_code=category_code,
                           year=year, retention=retention, volume_no=volume_no)


def archive_no_is_valid(value: str) -> bool:
    return bool(ARCHIVE_NO_RE.match(value))


_COUNTER_BUMP = (
    "UPDATE archives_archivenocounter SET last_no = last_no + %s "
    "WHERE fonds_id = %s AND scope = %s AND kind = %s RETURNING last_no"
)


def counter_next(*, fonds: Fonds, scope: str, kind: str, count: int = 1) -> int:
    """Reserve `count` numbers in a class and return the first; must run inside the filing
    transaction so that a rollback gives the numbers back (gap-free).

    The UPDATE takes the counter row's lock (PostgreSQL) or runs under the IMMEDIATE write lock
    (SQLite) until the filing commits, so concurrent writers queue and never share a number."""
    assert connection.in_atomic_block, "archive numbers are allocated inside the filing transaction"
    params: list[int | str] = [count, fonds.pk, scope, kind]
    with connection.cursor() as cur:
        cur.execute(_COUNTER_BUMP, params)
        row = cur.fetchone()
        if row is None:
            # First number of the class: create the counter (ON CONFLICT DO NOTHING, so two
            # writers creating it at once don't collide), then bump it.
            ArchiveNoCounter.objects.bulk_create(
                [ArchiveNoCounter(fonds=fonds, scope=scope, kind=kind, last_no=0)],
                ignore_conflicts=True)
            cur.execute(_COUNTER_BUMP, params)
            row = cur.fetchone()
    return row[0] - count + 1


def retention_expiry(
    *, fiscal_year: int, retention: str, asset_disposed_on: date | None = None
) -> date | None:
    """Last day of keeping (standards.md §1.4): the term counts from 1 Jan after the fiscal year.

    Permanent records never expire. Fixed-asset cards are kept 5 years counted from the fiscal
    year after the asset was scrapped; before that their end is unknown (None)."""
    if retention == Retention.PERMANENT:
        return None
    years = retention_years(retention)  # any D<n>: 附表2's 2-year rows, a local D50
    assert years is not None
    if retention == Retention.FA5:
        if asset_disposed_on is None:
            return None
        return date(asset_disposed_on.year + years, 12, 31)
    return date(fiscal_year + years, 12, 31)


def counter_raise_to(*, fonds: Fonds, scope: str, kind: str, number: int) -> None:
    """Make the class's counter at least `number`: records brought in with their own 档号 (a
    transfer package's import) must never be numbered again by the next filing."""
    ArchiveNoCounter.objects.bulk_create(
        [ArchiveNoCounter(fonds=fonds, scope=scope, kind=kind, last_no=0)], ignore_conflicts=True)
    ArchiveNoCounter.objects.filter(fonds=fonds, scope=scope, kind=kind,
                                    last_no__lt=number).update(last_no=number)
