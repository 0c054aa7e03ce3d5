from django.apps import AppConfig


class AppraisalConfig(AppConfig):
    name = "kjda.lifecycle.appraisal"
    label = "appraisal"
    verbose_name = "鉴定"
