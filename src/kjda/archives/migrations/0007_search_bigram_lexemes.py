"""PostgreSQL search index, third layout: every bigram is a lexeme of its own.

A two-character query becomes one exact lexeme instead of a prefix query over the 4-grams that
start with it (see kjda.archives.search), so the existing entries are rebuilt. SQLite: nothing.
"""

import importlib

from django.db import migrations


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    execute = schema_editor.execute
    # Filling the table and building the GIN index once is much faster than keeping it up to
    # date row by row.
    execute("DROP INDEX IF EXISTS archives_search_grams")
    execute("TRUNCATE archives_search")
    importlib.import_module("kjda.archives.migrations.0004_search_index")._reindex(
        apps, schema_editor.connection)
    execute("SET LOCAL maintenance_work_mem = '512MB'")
    execute("CREATE INDEX archives_search_grams ON archives_search USING gin (grams) "
            "WITH (fastupdate = off)")
    execute("ANALYZE archives_search")


class Migration(migrations.Migration):
    dependencies = [("archives", "0006_recordfile_pdfa")]

    # Going back keeps the entries: the older query layout still finds every 2-4 character word
    # in them (its prefix queries match the bigram lexemes too), but the planner over-estimates
    # such a prefix (it sums the bigram's and its 4-grams' frequencies) and a rare word can take
    # ~1 s over a million records: re-index (`kjda reindex`) after going back.
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
