"""Fewer indexes on what every filing writes (each is a B-tree insert and a page written twice,
to the WAL and at the checkpoint, per record). Dropped, as covered by another index:
record.status by (status, fonds); record.fonds by (fonds, fiscal_year, category);
recordfile.record by uniq_file_sequence (record, sequence); record_source_ext_idx by the
partial unique index on (source_system, external_id), which the idempotency lookup now
matches; and, as no query uses them, record.created_at and blob.sm3 (storage 0002).
The database side drops the indexes alone: SQLite's schema editor would remake the tables."""

import django.db.models.deletion
from django.db import migrations, models

from kjda.db.schema import single_column_indexes_create, single_column_indexes_drop


def _drop(apps, schema_editor):
    single_column_indexes_drop(schema_editor, "archives_record",
                               ["status", "fonds_id", "created_at"])
    single_column_indexes_drop(schema_editor, "archives_recordfile", ["record_id"])


def _create(apps, schema_editor):
    single_column_indexes_create(schema_editor, apps.get_model("archives", "Record"),
                                 ["status", "fonds", "created_at"])
    single_column_indexes_create(schema_editor, apps.get_model("archives", "RecordFile"),
                                 ["record"])


class Migration(migrations.Migration):

    dependencies = [
        ('archives', '0010_json_utf8'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='record',
            name='record_source_ext_idx',
        ),
        migrations.SeparateDatabaseAndState(state_operations=[
            migrations.AlterField(
                model_name='record',
                name='created_at',
                field=models.DateTimeField(auto_now_add=True),
            ),
            migrations.AlterField(
                model_name='record',
                name='fonds',
                field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='records', to='archives.fonds'),
            ),
            migrations.AlterField(
                model_name='record',
                name='status',
                field=models.CharField(choices=[('pending', '待处理'), ('filed', '已归档'), ('revoked', '已撤销')], default='pending', max_length=10),
            ),
            migrations.AlterField(
                model_name='recordfile',
                name='record',
                field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='files', to='archives.record'),
            ),
        ], database_operations=[migrations.RunPython(_drop, _create)]),
    ]
