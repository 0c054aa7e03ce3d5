from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "kjda.audit"
    label = "audit"
