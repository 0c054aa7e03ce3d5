"""Search index, PostgreSQL: posting bitmaps of frequent tokens, for exact counts without the
heap (see kjda.archives.postings). Empty until counts ask for them; a trigger marks the index
entries written or deleted after the bitmaps were last brought up to date."""

from django.db import migrations

from kjda.archives.postings import LOCK_KEY

PG_SQL = """
CREATE TABLE archives_search_postings (
    token text NOT NULL, seg integer NOT NULL, bits bytea NOT NULL, PRIMARY KEY (token, seg));
CREATE TABLE archives_search_postings_token (
    token text PRIMARY KEY, built boolean NOT NULL DEFAULT false);
CREATE TABLE archives_search_postings_state (
    id integer PRIMARY KEY, upto bigint NOT NULL, version bigint NOT NULL);
CREATE TABLE archives_search_dirty (record_id bigint PRIMARY KEY);
CREATE OR REPLACE FUNCTION kjda_search_mark_dirty() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    rid bigint;
BEGIN
    -- Held to the commit: the refresh (exclusive) sees this entry or marks it, never misses it.
    PERFORM pg_advisory_xact_lock_shared(LOCK_KEY);
    IF TG_OP = 'DELETE' THEN rid := OLD.record_id; ELSE rid := NEW.record_id; END IF;
    INSERT INTO archives_search_dirty (record_id)
        SELECT rid FROM archives_search_postings_state WHERE id = 1 AND rid <= upto
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER archives_search_mark_dirty AFTER INSERT OR UPDATE OR DELETE ON archives_search
    FOR EACH ROW EXECUTE FUNCTION kjda_search_mark_dirty();
""".replace("LOCK_KEY", str(LOCK_KEY))

PG_REVERSE = """
DROP TRIGGER IF EXISTS archives_search_mark_dirty ON archives_search;
DROP FUNCTION IF EXISTS kjda_search_mark_dirty();
DROP TABLE IF EXISTS archives_search_postings, archives_search_postings_token,
    archives_search_postings_state, archives_search_dirty;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_SQL)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_REVERSE)


class Migration(migrations.Migration):
    dependencies = [("archives", "0008_search_facets")]
    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
