from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "kjda.web"
    label = "web"
