from django.db import migrations, models


class Migration(migrations.Migration):
    """The audit key id of keyed events. Nullable without a default, so both databases add the
    column without rewriting the table: events written before stay as they were (unkeyed)."""

    dependencies = [
        ("audit", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="key_id",
            field=models.CharField(blank=True, max_length=16, null=True, verbose_name="密钥标识"),
        ),
    ]
