"""PostgreSQL: exact counts of frequent search terms from posting bitmaps, not from the heap.

A GIN count still visits every matching row's heap page (PostgreSQL 15's bitmap scans no longer
skip all-visible pages): 70 ms for a word in 270,000 of 1,000,000 records, and as much for a
user's fonds or department token intersected with it. So the tokens whose counts are slow (words
and facet tokens, learned from the counts that took long) also get a bitmap of the records that
hold them, one bit per record id, in segments of 65,536 ids (`archives_search_postings`). A count
is then the popcount of the query's boolean expression over those bitmaps, in Python, plus what
the bitmaps can't know yet:

- the base covers the index entries with ids up to `upto` (`archives_search_postings_state`) as
  they were when it was last brought up to date (`postings_refresh`);
- an entry written or deleted since, with an id up to `upto`, is *dirty*: a trigger on
  `archives_search` records it in `archives_search_dirty` in the writer's own transaction;
- the count is popcount(expression over the base, dirty ids masked out) + the GIN count over
  the entries with an id above `upto` or dirty (a short walk: the refresh keeps them few).

Exact under concurrent writers: a writer's trigger takes a shared advisory lock (held to its
commit) and marks the entry dirty if its id is up to `upto`; the refresh takes the exclusive
lock, so it sees every writer before it committed and none after it started; a reader reads the
base in one statement and the tail in a second, which also returns the base's version, and
starts again if a refresh committed in between.

Counting only reads (a search runs on the read-only `search` alias, kjda.db.routers): the
bitmaps are built and brought up to date by the worker, `postings_refresh_task` asked for by a
slow count or a long tail, and the periodic loop whenever `postings_refresh_due`. Until then a
count stays exact through the tail, only slower.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection, connections, transaction

SEGMENT_BITS = 65536
SEGMENT_BYTES = SEGMENT_BITS // 8
LOCK_KEY = 0x4B4A4441  # 'KJDA': the advisory lock between index writers and the refresh
SLOW_COUNT_SECONDS = 0.015  # a GIN count slower than this gets bitmaps for its tokens
MAX_TOKENS = 512  # bitmaps kept (each at most 16 KB per 100,000 records)
MAX_TAIL = 20000  # more unrefreshed entries than this: the GIN count is as good
REFRESH_TAIL = 2000  # a count that finds more than this brings the base up to date first
REFRESH_CHUNK = 5000  # ids past `upto` one refresh takes on (~70 µs each: 0.35 s)

# An expression over tokens: ("tok", token) | ("and", [expr, ...]) | ("or", [expr, ...]).
Expr = tuple


def tokens_of(expr: Expr) -> set[str]:
    if expr[0] == "tok":
        return {expr[1]}
    return set().union(*(tokens_of(e) for e in expr[1]))


def _evaluate(expr: Expr, bits: dict[str, int]) -> int:
    if expr[0] == "tok":
        return bits.get(expr[1], 0)
    values = [_evaluate(e, bits) for e in expr[1]]
    out = values[0]
    for v in values[1:]:
        out = (out & v) if expr[0] == "and" else (out | v)
    return out


def _enabled() -> bool:
    return connection.vendor == "postgresql"


@dataclass(frozen=True)
class PostingsCount:
    matches: int
    unrefreshed: int  # entries the base doesn't cover: counted through GIN
    base: int = 0  # the matching ids the bitmaps hold, as bits
    others: tuple[int, ...] = ()  # the matching ids they don't (the tail, dirty entries)

    def newest(self, n: int) -> list[int]:
        """The `n` highest matching ids, highest first."""
        out = sorted(self.others, reverse=True)[:n]
        top = self.base.bit_length()
        seg = (top - 1) // SEGMENT_BITS if top else -1
        taken: list[int] = []
        while seg >= 0 and len(taken) < n:
            bits = (self.base >> (seg * SEGMENT_BITS)) & ((1 << SEGMENT_BITS) - 1)
            while bits and len(taken) < n:
                b = bits.bit_length() - 1
                taken.append(seg * SEGMENT_BITS + b)
                bits ^= 1 << b
            seg -= 1
        return sorted(out + taken, reverse=True)[:n]


def postings_count(expr: Expr, tsquery: str, *, using: str = "default") -> PostingsCount | None:
    """The exact number of index entries matching `tsquery` (which says what `expr` says) from
    the bitmaps, or None when some token has none yet or the tail is too long to be worth it.
    Reads only: `using` may be a read-only alias."""
    if not _enabled():
        return None
    tokens = sorted(tokens_of(expr))
    for _attempt in range(3):
        with connections[using].cursor() as cur:
            cur.execute(
                "SELECT s.upto, s.version, (SELECT count(*) FROM archives_search_postings_token "
                "WHERE token = ANY(%s) AND built), (SELECT max(record_id) FROM archives_search) "
                "FROM archives_search_postings_state s WHERE s.id = 1", [tokens])
            row = cur.fetchone()
            if row is None or row[2] != len(tokens):
                return None
            upto, version, _, top = row
            if (top or 0) - upto > MAX_TAIL:
                return None
            cur.execute("SELECT token, seg, bits FROM archives_search_postings "
                        "WHERE token = ANY(%s)", [tokens])
            bits: dict[str, int] = {}
            for token, seg, data in cur.fetchall():
                bits[token] = bits.get(token, 0) | (int.from_bytes(data, "little")
                                                    << (seg * SEGMENT_BITS))
            cur.execute(
                "SELECT (SELECT version FROM archives_search_postings_state WHERE id = 1), "
                "(SELECT coalesce(array_agg(record_id), '{}') FROM archives_search_dirty), "
                "(SELECT coalesce(array_agg(record_id), '{}') FROM archives_search "
                " WHERE record_id > %s AND grams @@ %s::tsquery), "
                "(SELECT coalesce(array_agg(record_id), '{}') FROM archives_search "
                " WHERE record_id IN (SELECT record_id FROM archives_search_dirty) "
                " AND grams @@ %s::tsquery)",
                [upto, tsquery, tsquery])
            version_now, dirty, tail, dirty_matches = cur.fetchone()
        if version_now != version:
            continue  # a refresh committed between the two statements
        base = _evaluate(expr, bits) & ((1 << (upto + 1)) - 1)  # past upto: the tail's
        if dirty:
            mask = bytearray(max(dirty) // 8 + 1)
            for record_id in dirty:
                _set_bit(mask, record_id)
            base &= ~int.from_bytes(mask, "little")
        return PostingsCount(base.bit_count() + len(tail) + len(dirty_matches),
                             (top or 0) - upto + len(dirty), base,
                             tuple(tail) + tuple(dirty_matches))
    return None


def postings_note(tokens: Sequence[str]) -> bool:
    """Ask for bitmaps of `tokens` (the worker's half of a slow count: postings_refresh_task);
    True when they all have or will have one: a refresh then makes the next count fast."""
    if not _enabled() or not tokens:
        return False
    with connection.cursor() as cur:
        cur.execute("INSERT INTO archives_search_postings_token (token, built) "
                    "SELECT t, false FROM unnest(%s::text[]) AS t "
                    "WHERE (SELECT count(*) FROM archives_search_postings_token) < %s "
                    "ON CONFLICT (token) DO NOTHING", [list(tokens), MAX_TOKENS])
        cur.execute("SELECT count(*) FROM archives_search_postings_token WHERE token = ANY(%s)",
                    [list(tokens)])
        return cur.fetchone()[0] == len(set(tokens))


def postings_refresh_due() -> bool:
    """Whether the bitmaps are behind: entries written or dirtied since, or terms asked for."""
    if not _enabled():
        return False
    with connection.cursor() as cur:
        cur.execute(
            "SELECT EXISTS (SELECT 1 FROM archives_search_postings_token WHERE NOT built) "
            "OR EXISTS (SELECT 1 FROM archives_search_postings_token) AND ("
            " EXISTS (SELECT 1 FROM archives_search_dirty) OR coalesce((SELECT max(record_id) "
            " FROM archives_search), 0) > coalesce((SELECT upto FROM "
            " archives_search_postings_state WHERE id = 1), 0))")
        return bool(cur.fetchone()[0])


def _set_bit(data: bytearray, bit: int, value: bool = True) -> None:
    if value:
        data[bit // 8] |= 1 << (bit % 8)
    else:
        data[bit // 8] &= ~(1 << (bit % 8)) & 0xFF


def pg_quote(token: str) -> str:
    """A PostgreSQL tsquery/tsvector lexeme in quotes (shared with kjda.archives.search)."""
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


def postings_refresh(*, lock_timeout_ms: int = 2000) -> dict:
    """Bring the bitmaps up to date: entries written since the last refresh and dirty ones are
    read again, tokens asked for get their bitmap built. Blocks index writers while it runs
    (milliseconds for a few thousand entries); returns what it did."""
    if not _enabled():
        return {}
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")
        cur.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
        cur.execute("SELECT upto, version FROM archives_search_postings_state WHERE id = 1")
        row = cur.fetchone()
        upto, version = row if row else (0, 0)
        cur.execute("SELECT coalesce(max(record_id), 0) FROM archives_search")
        top = cur.fetchone()[0]
        cur.execute("SELECT token, built FROM archives_search_postings_token")
        tokens = dict(cur.fetchall())
        built = sorted(t for t, b in tokens.items() if b)
        pending = sorted(t for t, b in tokens.items() if not b)
        if built:  # a long tail is taken a chunk at a time: writers wait for the refresh
            top = min(top, upto + REFRESH_CHUNK)
        cur.execute("SELECT record_id FROM archives_search_dirty")
        dirty = [r[0] for r in cur.fetchall()]
        segments: dict[tuple[str, int], bytearray] = {}

        changed = 0
        if built and (top > upto or dirty):
            # every segment this refresh touches, read in one query
            touched = {i // SEGMENT_BITS for i in dirty}
            touched.update(range((upto + 1) // SEGMENT_BITS, top // SEGMENT_BITS + 1))
            cur.execute("SELECT token, seg, bits FROM archives_search_postings "
                        "WHERE token = ANY(%s) AND seg = ANY(%s)", [built, sorted(touched)])
            segments = {(t, g): bytearray(b) for t, g, b in cur.fetchall()}
            for token in built:
                for seg in touched:
                    segments.setdefault((token, seg), bytearray(SEGMENT_BYTES))
            for record_id in dirty:  # their bits as they were: cleared, then set again below
                for token in built:
                    _set_bit(segments[(token, record_id // SEGMENT_BITS)],
                             record_id % SEGMENT_BITS, False)
            cur.execute(
                "SELECT s.record_id, l FROM archives_search s "
                "CROSS JOIN LATERAL unnest(tsvector_to_array(s.grams)) AS l "
                "WHERE (s.record_id > %s AND s.record_id <= %s OR s.record_id = ANY(%s)) "
                "AND l = ANY(%s)", [upto, top, dirty, built])
            for record_id, token in cur.fetchall():
                _set_bit(segments[(token, record_id // SEGMENT_BITS)], record_id % SEGMENT_BITS)
                changed += 1
        for token in pending:  # a whole bitmap, from the GIN index
            cur.execute("SELECT record_id FROM archives_search WHERE grams @@ %s::tsquery "
                        "AND record_id <= %s", [pg_quote(token), max(top, upto)])
            ids = [r[0] for r in cur.fetchall()]
            for record_id in ids:
                data = segments.setdefault((token, record_id // SEGMENT_BITS),
                                           bytearray(SEGMENT_BYTES))
                _set_bit(data, record_id % SEGMENT_BITS)
            cur.execute("DELETE FROM archives_search_postings WHERE token = %s", [token])
        if segments:
            cur.execute(
                "INSERT INTO archives_search_postings (token, seg, bits) "
                "SELECT * FROM unnest(%s::text[], %s::int[], %s::bytea[]) "
                "ON CONFLICT (token, seg) DO UPDATE SET bits = EXCLUDED.bits",
                [[k[0] for k in segments], [k[1] for k in segments],
                 [bytes(v) for v in segments.values()]])
        cur.execute("DELETE FROM archives_search_dirty")
        # only the terms built here: one asked for meanwhile (no lock keeps it out) waits
        cur.execute("UPDATE archives_search_postings_token SET built = true "
                    "WHERE token = ANY(%s)", [pending])
        cur.execute(
            "INSERT INTO archives_search_postings_state (id, upto, version) VALUES (1, %s, %s) "
            "ON CONFLICT (id) DO UPDATE SET upto = EXCLUDED.upto, version = EXCLUDED.version",
            [max(top, upto), version + 1])
        cur.execute("SET LOCAL lock_timeout TO DEFAULT")  # inside a caller's transaction
    return {"upto": max(top, upto), "dirty": len(dirty), "tail_tokens": changed,
            "built": pending, "seconds": round(time.perf_counter() - started, 3)}


def postings_reset() -> None:
    """Forget every bitmap (after a re-index or when the index is emptied): they are built
    again as counts ask for them."""
    if not _enabled():
        return
    with connection.cursor() as cur:
        cur.execute("SELECT to_regclass('archives_search_postings_state')")
        if cur.fetchone()[0] is None:  # migrated back before 0009
            return
        cur.execute("DELETE FROM archives_search_postings_state; "
                    "DELETE FROM archives_search_postings; "
                    "DELETE FROM archives_search_postings_token; "
                    "DELETE FROM archives_search_dirty")
