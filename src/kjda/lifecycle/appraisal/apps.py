"""鉴定: retention rules as administered data, expiries, appraisal batches and 鉴定意见书."""
from django.apps import AppConfig


class AppraisalConfig(AppConfig):
    name = "kjda.lifecycle.appraisal"
    label = "appraisal"
    verbose_name = "鉴定"

    def ready(self) -> None:
        from kjda.lifecycle.appraisal import providers
        from kjda.lifecycle.appraisal.tasks import expiry_scan_task
        from kjda.lifecycle.daily import daily_job
        from kjda.lifecycle.mentions import record_mentions_provider, volume_mentions_provider
        from kjda.lifecycle.todos import todo_provider

        todo_provider(providers.appraisal_todos)
        record_mentions_provider(providers.record_mentions)
        volume_mentions_provider(providers.volume_mentions)
        daily_job(expiry_scan_task)  # Art.16: expiries computed every day
