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


def record_search_text(record: Record, extracted: str = "") -> str:
    fields = [record.archive_no or "", record.title, record.document_no, record.department,
              record.applicant, record.responsible, record.keywords, record.descriptors,
              record.person_names, record.abstract, record.notes, record.rule.name
              if record.rule_id else "", str(record.fiscal_year), str(record.record_no)]
    fields.extend(f.filename for f in record.files.all())
    return "\n".join(x for x in fields if x) + "\n" + extracted


def search_index_record(*, record: Record, text: str | None = None) -> None:
    """(Re)index one record; runs inside the filing transaction so the index never lags."""
    if text is None:
        from kjda.archives.models import RecordText

        row = RecordText.objects.filter(record_id=record.pk).first()
        text = row.content if row else ""
    grams = grams_for_text(record_search_text(record, text))
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(
                "INSERT INTO archives_search (record_id, grams) VALUES (%s, to_tsvector('simple', %s)) "
                "ON CONFLICT (record_id) DO UPDATE SET grams = EXCLUDED.grams",
                [record.pk, grams])
        else:
            cur.execute("DELETE FROM archives_search WHERE rowid = %s", [record.pk])
            cur.execute("INSERT INTO archives_search (rowid, grams) VALUES (%s, %s)",
                        [record.pk, grams])


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
