from django.apps import AppConfig


class LoansConfig(AppConfig):
    name = "kjda.lifecycle.loans"
    label = "loans"
    verbose_name = "借阅"

    def ready(self) -> None:
        from kjda.accounts.grants import grant_provider_register
        from kjda.lifecycle.daily import daily_job
        from kjda.lifecycle.loans import oa, providers
        from kjda.lifecycle.loans.tasks import loans_expire_task, loans_remind_task
        from kjda.lifecycle.mentions import record_mentions_provider
        from kjda.lifecycle.todos import todo_provider

        grant_provider_register(providers.grants)
        record_mentions_provider(providers.record_mentions)
        todo_provider(providers.todos)
        daily_job(loans_expire_task)
        daily_job(loans_remind_task)
        oa.oa_register()
