# Custody of every record (issue 17 item 3, 79号令 Art.11).

from django.db import migrations, models

# Added with plain ALTER TABLE … ADD COLUMN (a database default fills the existing rows): on
# SQLite, Django's AddField of a NOT NULL column rebuilds the whole table, which drops the search
# index triggers (0004, 0009) and copies every record.
ADD_CUSTODY = ("ALTER TABLE archives_record ADD COLUMN custody varchar(10) NOT NULL "
               "DEFAULT 'accounting'")
DROP_CUSTODY = "ALTER TABLE archives_record DROP COLUMN custody"


class Migration(migrations.Migration):

    dependencies = [
        ('archives', '0014_appraisal_retention'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(ADD_CUSTODY, DROP_CUSTODY)],
            state_operations=[migrations.AddField(
                model_name='record',
                name='custody',
                field=models.CharField(choices=[('accounting', '会计机构暂管'), ('archives', '档案机构保管')], default='accounting', max_length=10, verbose_name='保管机构'),
            )],
        ),
        migrations.AddField(
            model_name='record',
            name='custody_since',
            field=models.DateField(blank=True, null=True, verbose_name='保管起始日'),
        ),
    ]
