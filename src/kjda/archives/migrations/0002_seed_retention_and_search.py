"""Seed the four 门类 and the retention table; create the full-text index table."""

from django.db import migrations


def seed(apps, schema_editor):
    from kjda.archives.retention_table import seed_retention_table

    seed_retention_table(apps.get_model("archives", "Category"),
                         apps.get_model("archives", "RetentionRule"))


def create_search(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE TABLE archives_search (record_id bigint PRIMARY KEY, grams tsvector NOT NULL)")
        schema_editor.execute(
            "CREATE INDEX archives_search_grams ON archives_search USING gin (grams)")
    else:
        # Tokens are prepared in Python (bigrams); unicode61 only splits on the spaces.
        schema_editor.execute(
            "CREATE VIRTUAL TABLE archives_search USING fts5("
            "grams, tokenize = 'unicode61 remove_diacritics 0', detail = 'full')")


def drop_search(apps, schema_editor):
    schema_editor.execute("DROP TABLE IF EXISTS archives_search")


class Migration(migrations.Migration):
    dependencies = [("archives", "0001_initial")]

    operations = [
        migrations.RunPython(seed, migrations.RunPython.noop),
        migrations.RunPython(create_search, drop_search),
    ]
