from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    """Storage and system monitoring (issue 19 item 5; GB/T 39784 保存): alarms that stay open
    until the system administrator acknowledges them."""

    name = "kjda.preservation.monitoring"
    label = "monitoring"
    verbose_name = "监控告警 / Monitoring"

    def ready(self) -> None:
        from kjda.lifecycle.todos import todo_provider
        from kjda.preservation.monitoring import providers

        todo_provider(providers.alarm_todos)
