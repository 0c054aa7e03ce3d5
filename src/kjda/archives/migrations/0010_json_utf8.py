"""JSON written as UTF-8 (kjda.db.unicode_json). The encoder is no database attribute, but
SQLite's schema editor would remake the whole table for it: state only."""

import kjda.db.unicode_json
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('archives', '0009_search_postings'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[
            migrations.AlterField(
                model_name='record',
                name='check_report',
                field=models.JSONField(blank=True, default=dict, encoder=kjda.db.unicode_json.UnicodeJSONEncoder, verbose_name='四性检测报告'),
            ),
            migrations.AlterField(
                model_name='record',
                name='extra',
                field=models.JSONField(blank=True, default=dict, encoder=kjda.db.unicode_json.UnicodeJSONEncoder, verbose_name='其他元数据'),
            ),
            migrations.AlterField(
                model_name='recordfile',
                name='pdfa',
                field=models.JSONField(blank=True, encoder=kjda.db.unicode_json.UnicodeJSONEncoder, null=True, verbose_name='PDF/A 检测'),
            ),
            migrations.AlterField(
                model_name='recordfile',
                name='signatures',
                field=models.JSONField(blank=True, default=list, encoder=kjda.db.unicode_json.UnicodeJSONEncoder, verbose_name='电子签名'),
            ),
        ], database_operations=[]),
    ]
