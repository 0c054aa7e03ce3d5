from django.apps import AppConfig


class StorageConfig(AppConfig):
    name = "kjda.storage"
    label = "storage"
