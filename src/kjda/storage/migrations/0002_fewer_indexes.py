"""No index on blob.sm3: recorded for every file, never looked up (see archives 0011)."""

import django.core.validators
from django.db import migrations, models

from kjda.db.schema import single_column_indexes_create, single_column_indexes_drop


def _drop(apps, schema_editor):
    single_column_indexes_drop(schema_editor, "storage_blob", ["sm3"])


def _create(apps, schema_editor):
    single_column_indexes_create(schema_editor, apps.get_model("storage", "Blob"), ["sm3"])


class Migration(migrations.Migration):

    dependencies = [
        ('storage', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[
            migrations.AlterField(
                model_name='blob',
                name='sm3',
                field=models.CharField(max_length=64, validators=[django.core.validators.RegexValidator('^[0-9a-f]{64}$', '64 个小写十六进制字符 / 64 lower-case hex digits')]),
            ),
        ], database_operations=[migrations.RunPython(_drop, _create)]),
    ]
