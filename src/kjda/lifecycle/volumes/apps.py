from django.apps import AppConfig


class VolumesConfig(AppConfig):
    name = "kjda.lifecycle.volumes"
    label = "volumes"
    verbose_name = "组卷"
