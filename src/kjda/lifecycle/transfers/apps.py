from django.apps import AppConfig


class TransfersConfig(AppConfig):
    name = "kjda.lifecycle.transfers"
    label = "transfers"
    verbose_name = "移交"

    def ready(self) -> None:
        from kjda.lifecycle.mentions import record_mentions_provider
        from kjda.lifecycle.todos import todo_provider
        from kjda.lifecycle.transfers import providers

        record_mentions_provider(providers.record_mentions)
        todo_provider(providers.todos)
