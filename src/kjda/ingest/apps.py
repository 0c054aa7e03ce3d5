from django.apps import AppConfig


class IngestConfig(AppConfig):
    name = "kjda.ingest"
    label = "ingest"
