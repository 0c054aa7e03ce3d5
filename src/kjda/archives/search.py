"""Full-text search that works for Chinese on SQLite (FTS5) and PostgreSQL (tsvector + GIN).

Trigram indexes can't serve two-character words (差旅, 发票), so CJK text is cut into n-grams
here, in Python, and the database only indexes the tokens. Latin words and numbers are indexed
whole and lower-cased; each distinct CJK character is also indexed once as a `u`-prefixed
unigram, for one-character queries. A query is the AND of its runs (`差旅 北京`, `2024年报销`
→ `2024`, `年报销`); a CJK run must occur as a contiguous substring.

The two databases get the token layout that their engine answers fastest (measured with
bench/bench_search.py over 1,000,000 records):

- SQLite, FTS5 table `archives_search(grams)`, rowid = record id: overlapping bigrams with
  positions (detail=full). A run of n ≥ 2 characters is the phrase of its n-1 bigrams, which FTS5
  matches in its index (`差旅费` → `"差旅 旅费"`).
- PostgreSQL, table `archives_search(record_id, grams tsvector)` with a GIN index: each
  two-character substring (bigram) once, as a lexeme of its own, and one token per character
  position, the (up to) four characters that start there ("edge 4-grams"). A two-character run is
  then one exact lexeme (`差旅` → `'差旅'`), three or four characters a prefix or exact query on
  one 4-gram token (`差旅费` → `'差旅费':*`, `办公用品` → `'办公用品'`), which GIN answers exactly,
  without rechecking the stored tsvector. (Bigram phrases would make PostgreSQL re-read and
  re-check every candidate's tsvector: hundreds of ms for a common four-character word; a prefix
  query for a two-character word merges the posting lists of every 4-gram that starts with it, a
  third of the count's time for a common word, which the exact bigram lexeme saves.) Longer runs
  are phrases of 4-grams (`报销差旅费` → `'报销差旅' <-> '销差旅费'`), the only queries that recheck
  (slow when the phrase is common: every candidate's tsvector is fetched from TOAST). Only the
  4-character tokens carry positions (phrases are made of them alone); bigrams, the shorter
  tokens at the end of a run, unigrams and Latin words don't.

Both layouts also hold a few facet tokens per record (`record_facet_tokens`): its fonds, department,
applicant and fiscal year, so that a user's data scope and the simple list filters are index terms
(`(差旅) AND (fonds A OR fonds B) AND (dept X OR dept Y)`) and a scoped search is counted, and its
first page found, from the index alone instead of through a join to every matching record.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from django.db import connection, connections, transaction
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

from kjda.archives import postings
from kjda.archives.models import Record, RecordFile, RecordText
from kjda.archives.postings import pg_quote, postings_reset
from kjda.archives.tasks import postings_refresh_task
from kjda.db.django_private import queryset_cached_rows
from kjda.db.routers import search_alias

log = logging.getLogger(__name__)

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUN = re.compile(rf"[{_CJK}]+|[0-9A-Za-z\u00c0-\u024f]+")
_IS_CJK = re.compile(rf"[{_CJK}]")
UNIGRAM_MARK = "u"
PG_GRAM = 4  # PostgreSQL: characters per token
_PG_MAX_POS = 16383  # tsvector positions stop there
_PG_MAX_POSITIONS = 256  # and keep at most this many per lexeme
_PG_SMALL = 2600  # bytes of tsvector text below which the value would stay in the table row
_PG_PAD = "'" + "_" * 2040 + "'"


# Facet tokens start with a Greek letter: neither the text tokenizer nor a query ever emits one
# (both only emit CJK runs and Latin/digit runs, see _RUN), so no query can forge or hit them. The
# value follows as the hex of its UTF-8 bytes: lossless (no collisions), one FTS5 token, and at
# most 1,603 bytes for a 200-character department (PostgreSQL takes lexemes up to 2,047 bytes).
FACET_MARK = "\u03be"  # ξ


def _facet_token(kind: str, value: str | int) -> str:
    # Numbers (fonds id, year) as they are: already one token, and what SQL writes (0008).
    return FACET_MARK + kind + (str(value) if isinstance(value, int) else value.encode().hex())


@dataclass(frozen=True)
class Facets:
    """A conjunction of facet conditions, each None (any value) or the values allowed (an empty
    tuple allows none). What a scope part or a list filter says, in index terms."""

    fonds_ids: tuple[int, ...] | None = None
    departments: tuple[str, ...] | None = None
    applicants: tuple[str, ...] | None = None
    fiscal_years: tuple[int, ...] | None = None

    def groups(self) -> list[list[str]]:
        """The facet tokens as an AND of OR-groups (an empty group: nothing matches)."""
        out = []
        for kind, values in (("f", self.fonds_ids), ("d", self.departments),
                             ("a", self.applicants), ("y", self.fiscal_years)):
            if values is not None:
                out.append(sorted({_facet_token(kind, v) for v in values}))
        return out


def record_facet_tokens(record: Record) -> list[str]:
    """The facet tokens indexed for `record` (see Facets); the record must be reindexed when one
    of these fields changes (they are set when a record is filed and never edited)."""
    return [_facet_token("f", record.fonds_id), _facet_token("d", record.department or ""),
            _facet_token("a", record.applicant or ""), _facet_token("y", record.fiscal_year)]


def _runs(text: str) -> list[str]:
    return _RUN.findall(text)


def grams_for_text(text: str) -> str:
    """The FTS5 token stream for `text`: bigrams of each CJK run, Latin words, then unigrams.

    When a run starts with the character the previous one ended with (`报销，销售`), that
    character's unigram is put between them, so that no bigram phrase matches across the
    punctuation (`报销售` must not match)."""
    out: list[str] = []
    unigrams: dict[str, None] = {}
    last = ""
    for run in _runs(text):
        if _IS_CJK.match(run):
            for ch in run:
                unigrams[ch] = None
            if len(run) == 1:
                last = ""
                continue
            if last and run[0] == last:
                out.append(UNIGRAM_MARK + last)
            out.extend(run[i:i + 2] for i in range(len(run) - 1))
            last = run[-1]
        else:
            out.append(run.lower())
            last = ""
    out.extend(UNIGRAM_MARK + ch for ch in unigrams)
    return " ".join(out)


def pg_tsvector_for_text(text: str) -> str:
    """The PostgreSQL tsvector (as its text form) for `text`: edge 4-grams with positions,
    bigrams, Latin words and unigrams without. A gap in the positions separates runs."""
    grams: dict[str, list[int]] = {}
    plain: dict[str, None] = {}
    pos = 0
    for run in _runs(text):
        if _IS_CJK.match(run):
            for ch in run:
                plain[UNIGRAM_MARK + ch] = None
            for i in range(len(run) - 1):
                pos += 1
                plain[run[i:i + 2]] = None
                gram = run[i:i + PG_GRAM]
                if len(gram) < PG_GRAM:  # the end of the run: no phrase is made of it
                    plain[gram] = None
                    continue
                positions = grams.setdefault(gram, [])
                if len(positions) < _PG_MAX_POSITIONS and pos <= _PG_MAX_POS:
                    positions.append(pos)
            pos += 1
        else:
            plain[run.lower()] = None
    parts = [pg_quote(g) + (":" + ",".join(map(str, p)) if p else "") for g, p in grams.items()]
    parts.extend(pg_quote(t) for t in plain if t not in grams)
    out = " ".join(parts)
    if len(out.encode()) < _PG_SMALL:
        # PostgreSQL moves a value out of line only when the row exceeds ~2 KB, and the GIN
        # bitmap visits every row it matches: a record with little text would keep its whole
        # tsvector in the table and fatten it. The pad (one constant lexeme no query can
        # produce; it compresses to nothing) tips such rows over the limit.
        out += " " + _PG_PAD
    return out


def _fts5_expr(query: str) -> str | None:
    terms = []
    for run in _runs(query):
        if not _IS_CJK.match(run):
            terms.append(run.lower())
        elif len(run) == 1:
            terms.append(UNIGRAM_MARK + run)
        else:
            terms.append(" ".join(run[i:i + 2] for i in range(len(run) - 1)))
    return " AND ".join('"' + t + '"' for t in terms) or None


def _pg_term(run: str) -> tuple[str, str | None]:
    """One run of a query as tsquery text, and as the one whole token it is (None for a prefix
    or a phrase, which no posting bitmap answers: kjda.archives.postings)."""
    if not _IS_CJK.match(run):
        token = run.lower()
    elif len(run) == 1:
        token = UNIGRAM_MARK + run
    elif len(run) in (2, PG_GRAM):
        token = run  # the bigram lexeme, or the one 4-gram
    elif len(run) < PG_GRAM:
        return pg_quote(run) + ":*", None
    else:
        return "(" + " <-> ".join(pg_quote(run[i:i + PG_GRAM])
                                  for i in range(len(run) - PG_GRAM + 1)) + ")", None
    return pg_quote(token), token


def _pg_tsquery(query: str) -> str | None:
    return " & ".join(_pg_term(run)[0] for run in _runs(query)) or None


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
    """(Re)index one record; runs inside the filing transaction so the index never lags.
    `new`: the record was just inserted, so it has no entry to replace."""
    if text is None:
        row = RecordText.objects.filter(record_id=record.pk).first()
        text = row.content if row else ""
    search_rows_write([(record.pk, record_search_text(record, text), record_facet_tokens(record))],
                new=new)


def search_index_bulk(items: Iterable[tuple[Record, str]], *, batch_size: int = 2000) -> int:
    """(Re)index many records at once: `items` are (record, extracted text) pairs.

    Records should come with `rule` loaded (select_related) so that no query runs per record;
    file names are read with one query per batch. Each record's old tokens are replaced.
    Returns the number of records indexed. The caller owns the transaction."""
    done = 0
    batch: list[tuple[Record, str]] = []

    def flush() -> None:
        names: dict[int, list[str]] = {}
        for record_id, filename in (RecordFile.objects.filter(record_id__in=[r.pk for r, _ in batch])
                                    .order_by("record_id", "sequence")
                                    .values_list("record_id", "filename")):
            names.setdefault(record_id, []).append(filename)
        search_rows_write([(r.pk, record_search_text(r, text, names.get(r.pk, ())),
                      record_facet_tokens(r)) for r, text in batch])

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
    postings_reset()  # rebuilt as counts ask for them, instead of every entry marked dirty
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


def search_rows_write(rows: list[tuple[int, str, list[str]]], *, new: bool = False) -> None:
    """Store the index entries for (record id, text to index, facet tokens), replacing old ones."""
    if not rows:
        return
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(
                "INSERT INTO archives_search (record_id, grams) "
                "SELECT id, g::tsvector FROM unnest(%s::bigint[], %s::text[]) AS t(id, g) "
                "ON CONFLICT (record_id) DO UPDATE SET grams = EXCLUDED.grams",
                [[r[0] for r in rows],
                 [pg_tsvector_for_text(r[1]) + "".join(" " + pg_quote(t) for t in r[2])
                  for r in rows]])
            return
        if not new:
            cur.executemany("DELETE FROM archives_search WHERE rowid = %s", [(r[0],) for r in rows])
        cur.executemany("INSERT INTO archives_search (rowid, grams) VALUES (%s, %s)",
                        [(r[0], " ".join([grams_for_text(r[1]), *r[2]])) for r in rows])


def _facet_expr(scope: Sequence[Facets], pg: bool) -> str | None:
    """The index expression for an OR of facet conjunctions; None when it allows nothing."""
    q: Callable[[str], str]
    if pg:
        q, and_, or_ = pg_quote, " & ", " | "
    else:
        def q(t: str) -> str:
            return '"' + t + '"'
        and_, or_ = " AND ", " OR "
    parts = []
    for facets in scope:
        groups = facets.groups()
        if any(not g for g in groups):
            continue  # this part allows nothing
        if not groups:
            return ""  # this part allows everything: the whole expression does
        parts.append(and_.join("(" + or_.join(q(t) for t in g) + ")" for g in groups))
    if not parts:
        return None
    return or_.join("(" + p + ")" for p in parts)


def _match_expr(query: str, scope: Sequence[Facets] | None, pg: bool) -> str | None:
    """The MATCH / tsquery text for `query` within `scope`; None for an empty query, "" when the
    scope allows nothing (no index expression is false by itself)."""
    expr = _pg_tsquery(query) if pg else _fts5_expr(query)
    if expr is None or scope is None:
        return expr
    facet = _facet_expr(scope, pg)
    if facet is None:
        return ""
    return expr if not facet else "(" + expr + ")" + (" & " if pg else " AND ") + "(" + facet + ")"


def _bitmap_expr(query: str, scope: Sequence[Facets] | None) -> tuple | None:
    """What `_match_expr` says on PostgreSQL as an expression over whole tokens, for the posting
    bitmaps (kjda.archives.postings); None when a term is a prefix or a phrase."""
    terms: list[tuple] = []
    for run in _runs(query):
        token = _pg_term(run)[1]
        if token is None:
            return None
        terms.append(("tok", token))
    if not terms:
        return None
    parts: list[tuple[str, Any]] = []
    for facets in scope or ():
        groups = facets.groups()
        if any(not g for g in groups):
            continue
        if not groups:
            parts = []
            break
        parts.append(("and", [("or", [("tok", t) for t in g]) for g in groups]))
    else:
        if scope and not parts:
            return None  # allows nothing: search_match_sql says so without a count
    if parts:
        terms.append(("or", parts))
    return ("and", terms)


def search_match_sql(query: str, scope: Sequence[Facets] | None = None
                     ) -> tuple[str, list] | None:
    """SQL selecting the ids of records matching `query` (within `scope`, an OR of facet
    conjunctions, when given), or None for an empty query."""
    pg = connection.vendor == "postgresql"
    expr = _match_expr(query, scope, pg)
    if expr is None:
        return None
    if expr == "":
        return "SELECT 1 WHERE 1 = 0", []
    if pg:
        return "SELECT record_id FROM archives_search WHERE grams @@ %s::tsquery", [expr]
    return "SELECT rowid FROM archives_search WHERE archives_search MATCH %s", [expr]


def search_count_sql(query: str, scope: Sequence[Facets] | None = None
                     ) -> tuple[str, list] | None:
    """SQL counting the index entries matching `query` (no join to the records)."""
    match = search_match_sql(query, scope)
    if match is None:
        return None
    sql, params = match
    return "SELECT count(*) FROM (" + sql + ") AS m", params  # noqa: S608 - fixed SQL


def search_filter(qs: QuerySet[Record], query: str, scope: Sequence[Facets] | None = None
                  ) -> QuerySet[Record] | None:
    """`qs` narrowed to the records matching `query`, newest first; None for an empty query.

    The plan is driven by the index: the records are joined to the index rows matching the
    query, read in descending id order straight from the index (FTS5 returns its rowids in
    order, PostgreSQL walks the primary key or sorts the bitmap result, whichever is cheaper),
    and each row is checked against `qs`'s filters (the user's scope and the list filters)
    until the page is full. An `id IN (matches)` filter instead makes SQLite materialise every
    match (or scan the records by id) before the first row comes out.

    When `qs` has no filter at all (the whole archive is in scope and nothing else is asked),
    `count()` on the result counts the index entries alone, without joining the records. So it
    does when `scope` is given: the caller vouches that `scope` (an OR of facet conjunctions)
    says exactly what `qs`'s filters say. The index then also narrows the page's candidates to
    the scope, and `qs`'s filters are still checked on each row of the page."""
    qs = qs.using(search_alias())  # read-only (kjda.db.routers): a search never writes
    if (scope and connection.vendor == "postgresql"
            and all(f.applicants is not None for f in scope)):
        # An employee's scope (what they applied for: a few hundred records) is cheaper through
        # the join on PostgreSQL: the applicant index finds the records and only their tsvectors
        # are checked (20 ms for 报销 over 1,000,000 records), where the GIN intersection with
        # a common word's posting list took 30-40 ms.
        scope = None
    match = search_match_sql(query, scope)
    if match is None:
        return None
    if match[0].endswith("1 = 0"):
        return qs.none()
    if connection.vendor == "postgresql":
        where = ["archives_search.record_id = archives_record.id",
                 "archives_search.grams @@ %s::tsquery"]
        order = "-archives_search.record_id"
    else:
        where = ["archives_search.rowid = archives_record.id", "archives_search MATCH %s"]
        order = "-archives_search.rowid"
    params = match[1]
    exact = scope is not None or not qs.query.where
    out = qs.extra(tables=["archives_search"], where=where, params=params, order_by=[order])  # noqa: S610 - fixed SQL, the query is a parameter
    pg_exact = exact and connection.vendor == "postgresql"
    return _as_search_queryset(out, search_count_sql(query, scope) if exact else None,
                               sparse=(qs, match) if pg_exact else None,
                               bitmap=_bitmap_expr(query, scope) if pg_exact else None,
                               tsquery=match[1][0] if pg_exact else "")


# PostgreSQL, a page of an exact search (see _SearchQuerySet.__getitem__): walking the index rows
# newest first, each one's tsvector fetched and tested (~8 µs), pays off while it meets the page's
# rows within this many rows; beyond, the GIN bitmap of every match, sorted, is cheaper.
_PG_WALK_ROWS = 2000
_PG_BITMAP_PAGE_ROWS = 1000  # pages ending within this many matches come from the bitmaps


if TYPE_CHECKING:  # to mypy the mixin is the QuerySet it is mixed into (see _as_search_queryset)
    _MixedInto = QuerySet[Record]
else:
    _MixedInto = object


class _SearchQuerySet(_MixedInto):
    """Mixed into the QuerySet class of what `search_filter` returns (clones keep it).

    `count()` of an unfiltered search runs `_index_count`, a count over the index alone, instead
    of the join; any chaining (filter, exclude, order_by, slicing …) makes a clone without it, so
    a narrowed queryset always counts through the join.

    On PostgreSQL the count runs with sequential scans disabled: the planner prices `grams @@ q`
    on a row as cheap, not knowing that it must fetch the tsvector from TOAST (~5 µs a row), and
    would scan the whole table for a word in a third of the records (seconds) instead of
    counting the GIN bitmap (tens of ms)."""

    _index_count: tuple[str, list] | None = None
    _sparse: tuple[QuerySet, tuple[str, list]] | None = None
    _counted: tuple[int, float] | None = None  # (matches, rows in the index) once counted
    _bitmap: tuple | None = None  # the query as an expression for postings_count
    _found = None  # what postings_count found, when the count came from the bitmaps
    _tsquery = ""  # the tsquery of the search (with its scope), PostgreSQL

    def __getitem__(self, k):
        """A page of an exact search on PostgreSQL, planned by how many records match.

        The planner guesses how many rows match a tsquery (badly, for facet conjunctions: it
        took a scoped four-character word for 136 rows where 3,232 matched, and walked 13,000
        index rows for a page, 73 ms). The count is exact and asked for anyway, so it is taken
        first. When it came from the posting bitmaps (kjda.archives.postings), they give the
        page's ids too; otherwise a word in many records is walked newest first (the join
        below) and one in few is taken from the GIN bitmap, its newest ids sorted out of all
        matches (10 ms)."""
        if self._sparse is None or not isinstance(k, slice) or k.stop is None or k.step:
            return super().__getitem__(k)
        matches, rows = self._count_matches()
        stop = k.stop
        plain, (match_sql, params) = self._sparse
        if self._found is not None and stop <= _PG_BITMAP_PAGE_ROWS:
            # counted from the posting bitmaps: they know the newest matches too
            return plain.filter(id__in=self._found.newest(stop)).order_by("-id")[k]
        if matches and rows < 0:
            with connections[self.db].cursor() as cur:
                cur.execute("SELECT reltuples FROM pg_class "
                            "WHERE oid = 'archives_search'::regclass")
                rows = max(float(cur.fetchone()[0]), float(matches))
        if matches == 0 or stop * rows <= _PG_WALK_ROWS * matches:
            return super().__getitem__(k)
        # `+ 0`: ordered by an expression the primary key can't supply, so the matches come
        # from the bitmap, not from the walk the planner would misjudge again.
        newest = RawSQL(f"{match_sql} ORDER BY record_id + 0 DESC LIMIT %s",  # noqa: S611 - fixed SQL
                        [*params, stop])
        return plain.filter(id__in=newest).order_by("-id")[k]

    def _count_matches(self) -> tuple[int, float]:
        if self._counted is None:
            self._counted = self._count_from_bitmaps() or self._count_from_gin()
        return self._counted

    def _count_from_bitmaps(self) -> tuple[int, float] | None:
        if self._bitmap is None:
            return None
        found = postings.postings_count(self._bitmap, self._tsquery, using=self.db)
        if found is None:
            return None
        if found.unrefreshed > postings.REFRESH_TAIL:
            _postings_ask(())
        self._found = found
        return found.matches, -1.0  # the table's rows: read only if a page needs them

    def _count_from_gin(self) -> tuple[int, float]:
        started = time.perf_counter()
        counted = self._gin_count()
        if self._bitmap is not None and \
                time.perf_counter() - started >= postings.SLOW_COUNT_SECONDS:
            _postings_ask(sorted(postings.tokens_of(self._bitmap)))
        return counted

    def _gin_count(self) -> tuple[int, float]:
        sql, params = self._index_count  # type: ignore[misc]  # set with _sparse
        conn = connections[self.db]
        with conn.cursor() as cur:
            # max_parallel_workers_per_gather = 0: a Gather's worker start-up costs more than
            # it saves here (a count's bitmap is built by the leader alone).
            reset = ("; SET LOCAL enable_seqscan TO DEFAULT; "
                     "SET LOCAL max_parallel_workers_per_gather TO DEFAULT"
                     if conn.in_atomic_block else "")
            statement = ("SET LOCAL enable_seqscan = off; "  # noqa: S608 - fixed SQL
                         "SET LOCAL max_parallel_workers_per_gather = 0; "
                         "SELECT (" + sql + "), (SELECT reltuples FROM pg_class "
                         "WHERE oid = 'archives_search'::regclass)" + reset)
            cur.execute(statement, params)
            cur.nextset()
            cur.nextset()
            n, rows = cur.fetchone()
        return n, max(float(rows), float(n))

    def count(self) -> int:
        cached = queryset_cached_rows(self)
        if cached is not None:
            return len(cached)
        conn = connections[self.db]
        if self._sparse is not None:
            return self._count_matches()[0]
        if self._index_count is not None:
            sql, params = self._index_count
            with conn.cursor() as cur:
                if conn.vendor != "postgresql":
                    cur.execute(sql, params)
                    return cur.fetchone()[0]
                # One round trip: the SET LOCAL lasts for this statement's implicit transaction,
                # or, inside a caller's transaction, until the trailing reset.
                cur.execute(f"SET LOCAL enable_seqscan = off; {sql}"
                            + ("; SET LOCAL enable_seqscan TO DEFAULT"
                               if conn.in_atomic_block else ""), params)
                cur.nextset()
                return cur.fetchone()[0]
        if conn.vendor != "postgresql":
            return super().count()
        with transaction.atomic(using=self.db), conn.cursor() as cur:
            cur.execute("SELECT current_setting('enable_seqscan'), "
                        "set_config('enable_seqscan', 'off', true)")
            before = cur.fetchone()[0]
            try:
                return super().count()
            finally:  # inside a caller's transaction: put it back
                cur.execute("SELECT set_config('enable_seqscan', %s, true)", [before])


_SEARCH_CLASSES: dict[type, type] = {}


def _as_search_queryset(qs: QuerySet[Record], index_count: tuple[str, list] | None,
                        sparse: tuple[QuerySet, tuple[str, list]] | None = None,
                        bitmap: tuple | None = None, tsquery: str = "") -> QuerySet:
    base = type(qs)
    if not issubclass(base, _SearchQuerySet):
        cls = _SEARCH_CLASSES.get(base)
        if cls is None:
            cls = _SEARCH_CLASSES[base] = type(f"Search{base.__name__}", (_SearchQuerySet, base),
                                               {})
        qs = qs.all()
        qs.__class__ = cls
    search_qs = cast(_SearchQuerySet, qs)
    search_qs._index_count = index_count
    search_qs._sparse = sparse
    search_qs._bitmap = bitmap
    search_qs._tsquery = tsquery
    return search_qs


# Token sets this process asked the worker to build or refresh bitmaps for, and when: a search
# asks again only after _ASK_EVERY seconds (the task is a row in the queue, written on
# `default`; the search itself reads only).
_ASKED: dict[tuple[str, ...], float] = {}
_ASK_EVERY = 60.0


def _postings_ask(tokens: Sequence[str]) -> None:
    """Ask the worker for bitmaps of `tokens` (none: only bring them up to date), after the
    caller's transaction commits. The search goes on without them: its count stays exact."""
    key = tuple(sorted(tokens))
    now = time.monotonic()
    if now - _ASKED.get(key, -_ASK_EVERY) < _ASK_EVERY:
        return
    if len(_ASKED) > 1000:
        _ASKED.clear()
    _ASKED[key] = now

    def enqueue() -> None:
        from django.db import DatabaseError

        try:
            postings_refresh_task.enqueue(list(key))
        except DatabaseError:  # a busy queue must not fail the search: the periodic loop refreshes
            log.warning("postings refresh not enqueued", exc_info=True)

    transaction.on_commit(enqueue, using="default")
