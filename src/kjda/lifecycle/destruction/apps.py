"""Holds (Art.19) and destruction (销毁, Art.18) with its 销毁清册, signatures and 监销."""
from django.apps import AppConfig


class DestructionConfig(AppConfig):
    name = "kjda.lifecycle.destruction"
    label = "destruction"
    verbose_name = "销毁"

    def ready(self) -> None:
        from kjda.lifecycle.appraisal.register import appraisal_held_items_provider
        from kjda.lifecycle.destruction import providers
        from kjda.lifecycle.mentions import record_mentions_provider, volume_mentions_provider
        from kjda.lifecycle.todos import todo_provider

        record_mentions_provider(providers.record_mentions)
        volume_mentions_provider(providers.volume_mentions)
        todo_provider(providers.destruction_todos)
        appraisal_held_items_provider(providers.appraisal_held_items)  # Art.19
        from kjda.lifecycle.daily import daily_job
        from kjda.lifecycle.destruction.services import hold_reviews_task

        daily_job(hold_reviews_task)  # a hold's review date: an OA to-do for its owner
