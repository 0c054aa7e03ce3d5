"""Reads of the format registry: the entries with how much of the archive is in each format,
the migration runs, the files a run should take, and the migration renditions of a record."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.cache import cache
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum

from kjda.archives.models import RecordFile, RecordStatus
from kjda.errors import NotFound
from kjda.lifecycle.formatwatch.models import FileMigration, FormatEntry, MigrationRun
from kjda.lifecycle.formatwatch.registry import format_id_of


def format_entry_get(*, format_id: str) -> FormatEntry:
    entry = FormatEntry.objects.filter(format_id=(format_id or "").strip()).first()
    if entry is None:
        raise NotFound("format_unknown", f"格式登记中没有 {format_id}",
                       f"no format {format_id} in the registry")
    return entry


def format_entry_by_pk(*, pk: int) -> FormatEntry:
    entry = FormatEntry.objects.filter(pk=pk).first()
    if entry is None:
        raise NotFound("format_unknown", f"格式登记中没有编号 {pk}", f"no format entry {pk}")
    return entry


def format_files(entry: FormatEntry) -> Q:
    """The files of the entry's format (by PRONOM id; by our name where there is none)."""
    if entry.format_id.startswith("kjda/"):
        return Q(puid="", format_name=entry.format_id.removeprefix("kjda/"))
    return Q(puid=entry.format_id)


def format_candidates(*, entry: FormatEntry) -> QuerySet[RecordFile]:
    """Current original files of the format in filed records, without a current rendition in
    the target format and not given up on, in id order."""
    has_rendition = RecordFile.objects.filter(derived_from=OuterRef("pk"),
                                              superseded_at__isnull=True,
                                              puid=entry.target_format)
    given_up = FileMigration.objects.filter(source=OuterRef("pk"), given_up=True,
                                            target_format=entry.target_format)
    return (RecordFile.objects.filter(format_files(entry), superseded_at__isnull=True,
                                      derived_from__isnull=True,
                                      record__status=RecordStatus.FILED)
            .exclude(role="rendition").exclude(Exists(has_rendition)).exclude(Exists(given_up))
            .order_by("pk"))


def format_given_up_count(*, entry: FormatEntry) -> int:
    return FileMigration.objects.filter(
        given_up=True, target_format=entry.target_format,
        source__in=RecordFile.objects.filter(format_files(entry))).count()


@dataclass
class FormatUsage:
    entry: FormatEntry | None  # None: a format found in the archive that is not registered
    format_id: str
    files: int
    bytes: int


USAGE_CACHE_SECONDS = 600


def format_registry(*, with_usage: bool = True, cached: bool = False) -> list[FormatUsage]:
    """Every entry with the current files (count, bytes) in its format — one GROUP BY over the
    file rows — and, after them, formats that occur but are not registered. `cached`: the pages
    and the API take the counts from the shared cache (at most USAGE_CACHE_SECONDS old), as the
    GROUP BY reads every file row (100 million of them in a large archive)."""
    usage: dict[str, tuple[int, int]] = {}
    if with_usage:
        hit = cache.get(_USAGE_KEY) if cached else None
        usage = hit if hit is not None else _format_usage()
        if hit is None:
            cache.set(_USAGE_KEY, usage, USAGE_CACHE_SECONDS)
    entries = list(FormatEntry.objects.select_related("flagged_by"))
    known = {e.format_id for e in entries}
    out = [FormatUsage(e, e.format_id, *usage.get(e.format_id, (0, 0))) for e in entries]
    out += [FormatUsage(None, k, n, b) for k, (n, b) in sorted(usage.items()) if k not in known]
    return out


_USAGE_KEY = "kjda:formatwatch:usage"


def _format_usage() -> dict[str, tuple[int, int]]:
    usage: dict[str, tuple[int, int]] = {}
    rows = (RecordFile.objects.filter(superseded_at__isnull=True)
            .values("puid", "format_name").annotate(n=Count("id"), b=Sum("size")))
    for row in rows:
        key = format_id_of(puid=row["puid"], format_name=row["format_name"])
        n, b = usage.get(key, (0, 0))
        usage[key] = (n + row["n"], b + (row["b"] or 0))
    return usage


def migration_runs(*, entry: FormatEntry | None = None, limit: int = 20) -> list[MigrationRun]:
    runs = MigrationRun.objects.select_related("entry").order_by("-started_at", "-id")
    if entry is not None:
        runs = runs.filter(entry=entry)
    return list(runs[:limit])


def migration_renditions(*, file_ids: list[int]) -> dict[int, FileMigration]:
    """The format-migration renditions among these files: rendition id → its migration."""
    return {m.result_id: m for m in FileMigration.objects.filter(result_id__in=file_ids)
            .select_related("run__entry") if m.result_id is not None}
