"""组卷/装册: volume rules per fonds and category, assembly, moves, closing with 卷内目录 and 备考表."""
from django.apps import AppConfig


class VolumesConfig(AppConfig):
    name = "kjda.lifecycle.volumes"
    label = "volumes"
    verbose_name = "组卷"

    def ready(self) -> None:
        from kjda.lifecycle.daily import daily_job
        from kjda.lifecycle.volumes import providers  # noqa: F401  (registers the providers)
        from kjda.lifecycle.volumes.services import volumes_unclosed_task

        daily_job(volumes_unclosed_task)  # open volumes of an ended year: an OA to-do
