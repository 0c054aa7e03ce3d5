from django.apps import AppConfig


class ArchivesConfig(AppConfig):
    name = "kjda.archives"
    label = "archives"
