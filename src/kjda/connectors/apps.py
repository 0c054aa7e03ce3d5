from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "kjda.connectors"
    label = "connectors"
    verbose_name = "OA 集成"
