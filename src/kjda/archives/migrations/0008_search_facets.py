"""Search index: facet tokens (fonds, department, applicant, fiscal year) in every entry.

A user's data scope and the simple list filters then become index terms, and a scoped search is
counted from the index alone (see kjda.archives.search.Facets). The tokens are appended to the
existing entries in SQL, as `record_facet_tokens` writes them (ξ + kind + hex of the UTF-8
value), without re-tokenizing the text: minutes, not the half hour of a full re-index, over a
million records. Entries that already have them (written by a newer `search_rows_write`, e.g. by 0004
on a fresh install) are left alone.
"""

from django.db import migrations

PG_FACETS = """
UPDATE archives_search s SET grams = s.grams || array_to_tsvector(ARRAY[
    'ξf' || r.fonds_id,
    'ξd' || encode(convert_to(r.department, 'UTF8'), 'hex'),
    'ξa' || encode(convert_to(r.applicant, 'UTF8'), 'hex'),
    'ξy' || r.fiscal_year])
FROM archives_record r
WHERE r.id = s.record_id AND NOT s.grams @@ ('''' || 'ξf' || r.fonds_id || '''')::tsquery
"""

SQLITE_FACETS = """
UPDATE archives_search SET grams = grams || (
    SELECT ' ξf' || r.fonds_id || ' ξd' || lower(hex(CAST(r.department AS BLOB)))
        || ' ξa' || lower(hex(CAST(r.applicant AS BLOB))) || ' ξy' || r.fiscal_year
    FROM archives_record r WHERE r.id = archives_search.rowid)
WHERE instr(grams, 'ξf') = 0 AND rowid IN (SELECT id FROM archives_record)
"""


def forwards(apps, schema_editor):
    execute = schema_editor.execute
    if schema_editor.connection.vendor != "postgresql":
        execute(SQLITE_FACETS)
        return
    # Updating every row under the GIN index is much slower than building the index again.
    execute("DROP INDEX IF EXISTS archives_search_grams")
    execute(PG_FACETS)
    # The UPDATE left a dead copy of every row: the table twice its size, and a count that
    # visits its heap pages twice as slow, until a VACUUM FULL. Rewritten compact here (CLUSTER,
    # unlike VACUUM, runs inside the migration's transaction), in id order.
    execute("SET LOCAL maintenance_work_mem = '512MB'")
    execute("CLUSTER archives_search USING archives_search_pkey")
    execute("CREATE INDEX archives_search_grams ON archives_search USING gin (grams) "
            "WITH (fastupdate = off)")
    execute("ANALYZE archives_search")


class Migration(migrations.Migration):
    dependencies = [("archives", "0007_search_bigram_lexemes")]

    # Going back leaves the tokens in: nothing but a facet query matches them.
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
