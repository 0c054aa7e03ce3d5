"""The registry's defaults (kjda.lifecycle.formatwatch.registry): entries that are missing are
added; an existing entry, and any flag an archivist set, is left as it is."""

from django.db import migrations

# A frozen copy would drift from the registry; the defaults are plain data (no model code).
from kjda.lifecycle.formatwatch.registry import CONVERTIBLE, DEFAULT_TARGET, DEFAULTS


def seed(apps, schema_editor):
    FormatEntry = apps.get_model("formatwatch", "FormatEntry")
    have = set(FormatEntry.objects.values_list("format_id", flat=True))
    FormatEntry.objects.bulk_create([
        FormatEntry(format_id=d.format_id, name=d.name, format_name=d.format_name, mime=d.mime,
                    version=d.version, category=d.category, note=d.note,
                    target_format=DEFAULT_TARGET if d.format_name in CONVERTIBLE else "")
        for d in DEFAULTS if d.format_id not in have])


class Migration(migrations.Migration):

    dependencies = [
        ("formatwatch", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
