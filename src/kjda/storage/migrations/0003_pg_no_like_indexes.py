"""PostgreSQL: no `varchar_pattern_ops` twin of the blob key's index (see archives 0012)."""

from django.db import migrations

from kjda.db.schema import like_indexes_create, like_indexes_drop


def _drop(apps, schema_editor):
    like_indexes_drop(schema_editor, "storage_blob", ["sha256"])


def _create(apps, schema_editor):
    like_indexes_create(schema_editor, apps.get_model("storage", "Blob"), ["sha256"])


class Migration(migrations.Migration):
    dependencies = [("storage", "0002_fewer_indexes")]

    operations = [migrations.RunPython(_drop, _create)]
