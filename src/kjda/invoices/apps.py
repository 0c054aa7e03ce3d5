from django.apps import AppConfig


class InvoicesConfig(AppConfig):
    name = "kjda.invoices"
    label = "invoices"
    verbose_name = "发票与电子凭证"
    default_auto_field = "django.db.models.BigAutoField"
