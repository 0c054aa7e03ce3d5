from django.apps import AppConfig


class DestructionConfig(AppConfig):
    name = "kjda.lifecycle.destruction"
    label = "destruction"
    verbose_name = "销毁"
