"""JSON written as UTF-8 (kjda.db.unicode_json). The encoder is no database attribute, but
SQLite's schema editor would remake the whole table for it: state only."""

import kjda.db.unicode_json
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('invoices', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[
            migrations.AlterField(
                model_name='invoice',
                name='data',
                field=models.JSONField(default=dict, encoder=kjda.db.unicode_json.UnicodeJSONEncoder, verbose_name='发票数据'),
            ),
        ], database_operations=[]),
    ]
