from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "kjda.web"
    label = "web"

    def ready(self) -> None:
        from kjda.lifecycle.todos import todo_provider
        from kjda.web.todos import pending_record_todos

        todo_provider(pending_record_todos)  # pending records to put right (issue 17 item 1)
