"""Search index, second layout (measured with bench/bench_search.py over 1,000,000 records).

Both databases: deleting (or, on PostgreSQL, truncating) records deletes their index entries, so
the index never holds an entry without its record and an unfiltered search can be counted from
the index alone.

PostgreSQL: the tsvector becomes edge 4-grams (see kjda.archives.search), so existing entries are
rebuilt; it is stored out of line (toast_tuple_target) so that the table the GIN bitmap visits
stays small (~60 bytes a row instead of ~1 KB: a count over 100,000 matches reads ~8,000 pages
instead of ~100,000); the GIN index no longer uses a pending list (fastupdate = off: every search
would scan that list until the next vacuum); and the planner keeps statistics on more lexemes
(10,000: ~20,000 lexemes, ANALYZE ~20 s per million records) so that it knows a rare word from
a common one: it walks the ids backwards for a common word (the first page is full after a few
dozen rows) and sorts the GIN bitmap for a rare one; with the default statistics it took rare
words for common ones and walked (and de-TOASTed) up to every row, 0.2–6 s a query.
"""

from django.db import migrations

PG_FUNCTIONS = """
CREATE OR REPLACE FUNCTION kjda_search_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM archives_search WHERE record_id = OLD.id;
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION kjda_search_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- DELETE, not TRUNCATE: the same statement may be truncating archives_search too.
    DELETE FROM archives_search;
    RETURN NULL;
END $$;
CREATE TRIGGER archives_record_search_delete AFTER DELETE ON archives_record
    FOR EACH ROW EXECUTE FUNCTION kjda_search_delete();
CREATE TRIGGER archives_record_search_truncate AFTER TRUNCATE ON archives_record
    FOR EACH STATEMENT EXECUTE FUNCTION kjda_search_truncate();
"""


def _reindex(apps, connection) -> None:
    """Rebuild every entry with the current token layout, from the historical models."""
    from kjda.archives import search

    record_model = apps.get_model("archives", "Record")
    text_model = apps.get_model("archives", "RecordText")
    file_model = apps.get_model("archives", "RecordFile")
    last = 0
    while True:
        records = list(record_model.objects.select_related("rule").filter(pk__gt=last)
                       .order_by("pk")[:2000])
        if not records:
            return
        ids = [r.pk for r in records]
        texts = dict(text_model.objects.filter(record_id__in=ids)
                     .values_list("record_id", "content"))
        names: dict[int, list[str]] = {}
        for record_id, filename in (file_model.objects.filter(record_id__in=ids)
                                    .order_by("record_id", "sequence")
                                    .values_list("record_id", "filename")):
            names.setdefault(record_id, []).append(filename)
        search.search_rows_write([(r.pk, search.record_search_text(r, texts.get(r.pk, ""),
                                                             names.get(r.pk, [])),
                             search.record_facet_tokens(r))
                            for r in records], new=True)
        last = ids[-1]


def forwards(apps, schema_editor):
    connection = schema_editor.connection
    execute = schema_editor.execute
    if connection.vendor == "postgresql":
        execute("ALTER TABLE archives_search SET (toast_tuple_target = 128)")
        execute("ALTER TABLE archives_search ALTER COLUMN grams SET STATISTICS 10000")
        execute("DROP INDEX IF EXISTS archives_search_grams")
        execute("TRUNCATE archives_search")
        _reindex(apps, connection)
        execute("SET LOCAL maintenance_work_mem = '512MB'")
        execute("CREATE INDEX archives_search_grams ON archives_search USING gin (grams) "
                "WITH (fastupdate = off)")
        execute(PG_FUNCTIONS)
        execute("ANALYZE archives_search")
    else:
        execute("CREATE TRIGGER IF NOT EXISTS archives_record_search_delete "
                "AFTER DELETE ON archives_record BEGIN "
                "DELETE FROM archives_search WHERE rowid = OLD.id; END")


def backwards(apps, schema_editor):
    execute = schema_editor.execute
    if schema_editor.connection.vendor == "postgresql":
        execute("DROP TRIGGER IF EXISTS archives_record_search_delete ON archives_record")
        execute("DROP TRIGGER IF EXISTS archives_record_search_truncate ON archives_record")
        execute("DROP FUNCTION IF EXISTS kjda_search_delete()")
        execute("DROP FUNCTION IF EXISTS kjda_search_truncate()")
        execute("ALTER INDEX archives_search_grams SET (fastupdate = on)")
        execute("ALTER TABLE archives_search RESET (toast_tuple_target)")
        execute("ALTER TABLE archives_search ALTER COLUMN grams SET STATISTICS -1")
        # The entries keep the 4-gram layout: re-index after going back.
    else:
        execute("DROP TRIGGER IF EXISTS archives_record_search_delete")


class Migration(migrations.Migration):
    dependencies = [("archives", "0003_lookup_indexes")]

    operations = [migrations.RunPython(forwards, backwards)]
