"""PostgreSQL: drop the `varchar_pattern_ops` twins Django adds beside the indexes of text
columns, for `LIKE 'prefix%'` queries that nothing here makes (digests, 档号, department and
applicant are only compared whole). Each was written on every filing. SQLite has none."""

from django.db import migrations

from kjda.db.schema import like_indexes_create, like_indexes_drop


def _drop(apps, schema_editor):
    like_indexes_drop(schema_editor, "archives_record", ["archive_no", "department", "applicant"])
    like_indexes_drop(schema_editor, "archives_recordfile", ["blob_id"])


def _create(apps, schema_editor):
    like_indexes_create(schema_editor, apps.get_model("archives", "Record"),
                        ["archive_no", "department", "applicant"])
    like_indexes_create(schema_editor, apps.get_model("archives", "RecordFile"), ["blob"])


class Migration(migrations.Migration):
    dependencies = [("archives", "0011_fewer_indexes")]

    operations = [migrations.RunPython(_drop, _create)]
