"""Full-text search that works for Chinese on SQLite (FTS5) and PostgreSQL (tsvector + GIN).

Trigram indexes can't serve two-character words (差旅, 发票), so CJK text is indexed as
overlapping bigrams, plus each distinct character once as a `u`-prefixed unigram for
one-character queries. Latin words and digits are indexed as they are. A query for `差旅费`
becomes the phrase `差旅 旅费`: adjacent bigrams, i.e. the exact substring.

The index is one row per record in `archives_search` (created by migration): rowid/record_id
is the record's id, `grams` the token stream.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.db import connection

from kjda.archives.models import Record

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUN = re.compile(rf"[{_CJK}]+|[0-9A-Za-z\u00c0-\u024f]+")
_IS_CJK = re.compile(rf"[{_CJK}]")
UNIGRAM_MARK = "u"


def _runs(text: str) -> list[str]:
    return _RUN.findall(text)


def grams_for_text(text: str) -> str:
    """The token stream stored in the index for `text`."""
    out: list[str] = []
    unigrams: dict[str, None] = {}
    for run in _runs(text):
        if _IS_CJK.match(run):
            for ch in run:
                unigrams[ch] = None
            if len(run) == 1:
                continue
            out.extend(run[i:i + 2] for i in range(len(run) - 1))
        else:
            out.append(run.lower())
    out.extend(UNIGRAM_MARK + ch for ch in unigrams)
    return " ".join(out)


def _query_terms(query: str) -> list[list[str]]:
    """Each term is a list of tokens that must appear as a phrase; all terms must match."""
    terms: list[list[str]] = []
    for run in _runs(query):
        if _IS_CJK.match(run):
            if len(run) == 1:
                terms.append([UNIGRAM_MARK + run])
            else:
                terms.append([run[i:i + 2] for i in range(len(run) - 1)])
        else:
            terms.append([run.lower()])
    return terms


def _fts5_expr(terms: list[list[str]]) -> str:
    return " AND ".join('"' + " ".join(t) + '"' for t in terms)


def _pg_tsquery(terms: list[list[str]]) -> str:
    def quote(token: str) -> str:
        return "'" + token.replace("'", "''").replace("\\", "\\\\") + "'"

    return " & ".join("(" + " <-> ".join(quote(tok) for tok in t) + ")" for t in terms)


def record_search_text(record: Record, extracted: str = "",
                       filenames: Iterable[str] | None = None) -> str:
    """The text indexed for `record`: its metadata, its files' names and the extracted text.

    `filenames` saves a query per record when indexing in bulk; without it the record's files
    are read (from the prefetch cache when there is one)."""
    fields = [record.archive_no or "", record.title, record.document_no, record.department,
              record.applicant, record.responsible, record.keywords, record.descriptors,
              record.person_names, record.abstract, record.notes, record.rule.name
              if record.rule_id else "", str(record.fiscal_year), str(record.record_no)]
    if filenames is None:
        filenames = [f.filename for f in record.files.all()] if record.pk else []
    fields.extend(filenames)
    return "\n".join(x for x in fields if x) + "\n" + extracted


def search_index_record(*, record: Record, text: str | None = None, new: bool = False) -> None:
    """(Re)index one record; runs inside the filing transaction so the index never lags."""
    if text is None:
        from kjda.archives.models import RecordText

        row = RecordText.objects.filter(record_id=record.pk).first()
        text = row.content if row else ""
    _write_rows([(record.pk, grams_for_text(record_search_text(record, text)))])


def search_index_bulk(items: Iterable[tuple[Record, str]], *, batch_size: int = 2000) -> int:
    """(Re)index many records at once: `items` are (record, extracted text) pairs.

    Records should come with `rule` loaded (select_related) so that no query runs per record;
    file names are read with one query per batch. Each record's old tokens are replaced.
    Returns the number of records indexed. The caller owns the transaction."""
    from kjda.archives.models import RecordFile

    done = 0
    batch: list[tuple[Record, str]] = []

    def flush() -> None:
        names: dict[int, list[str]] = {}
        for record_id, filename in (RecordFile.objects.filter(record_id__in=[r.pk for r, _ in batch])
                                    .order_by("record_id", "sequence")
                                    .values_list("record_id", "filename")):
            names.setdefault(record_id, []).append(filename)
        _write_rows([(r.pk, grams_for_text(record_search_text(r, text, names.get(r.pk, ()))))
                     for r, text in batch])

    for item in items:
        batch.append(item)
        if len(batch) >= batch_size:
            flush()
            done += len(batch)
            batch = []
    if batch:
        flush()
        done += len(batch)
    return done


def search_reindex(*, batch_size: int = 2000, id_from: int = 0) -> int:
    """Rebuild the index entry of every record (with id > `id_from`), in batches by id.

    What a re-index command runs after the token scheme changes; each batch commits on its own."""
    from django.db import transaction

    from kjda.archives.models import RecordText

    done, last = 0, id_from
    while True:
        with transaction.atomic():
            records = list(Record.objects.select_related("rule").filter(pk__gt=last)
                           .order_by("pk")[:batch_size])
            if not records:
                return done
            texts = dict(RecordText.objects.filter(record_id__in=[r.pk for r in records])
                         .values_list("record_id", "content"))
            done += search_index_bulk(((r, texts.get(r.pk, "")) for r in records),
                                      batch_size=batch_size)
        last = records[-1].pk


def _write_rows(rows: list[tuple[int, str]]) -> None:
    if not rows:
        return
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(
                "INSERT INTO archives_search (record_id, grams) "
                "SELECT id, to_tsvector('simple', g) FROM unnest(%s::bigint[], %s::text[]) "
                "AS t(id, g) ON CONFLICT (record_id) DO UPDATE SET grams = EXCLUDED.grams",
                [[r[0] for r in rows], [r[1] for r in rows]])
        else:
            if len(rows) == 1:
                cur.execute("DELETE FROM archives_search WHERE rowid = %s", [rows[0][0]])
            else:
                cur.executemany("DELETE FROM archives_search WHERE rowid = %s",
                                [(r[0],) for r in rows])
            cur.executemany("INSERT INTO archives_search (rowid, grams) VALUES (%s, %s)", rows)


def search_match_sql(query: str) -> tuple[str, list] | None:
    """SQL selecting the ids of records matching `query`, or None for an empty query."""
    terms = _query_terms(query)
    if not terms:
        return None
    if connection.vendor == "postgresql":
        return ("SELECT record_id FROM archives_search WHERE grams @@ %s::tsquery",
                [_pg_tsquery(terms)])
    return ("SELECT rowid FROM archives_search WHERE archives_search MATCH %s",
            [_fts5_expr(terms)])
