from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "kjda.api"
    label = "api"
