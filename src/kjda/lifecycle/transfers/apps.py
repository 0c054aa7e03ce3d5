from django.apps import AppConfig


class TransfersConfig(AppConfig):
    name = "kjda.lifecycle.transfers"
    label = "transfers"
    verbose_name = "移交"
