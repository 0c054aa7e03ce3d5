from django.core.management import call_command
from django.db import migrations


def _create_cache_table(apps, schema_editor):
    # The database cache (settings.CACHES) holds the login-failure counters of the lockout.
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_profile")]
    operations = [migrations.RunPython(_create_cache_table, migrations.RunPython.noop)]
