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
