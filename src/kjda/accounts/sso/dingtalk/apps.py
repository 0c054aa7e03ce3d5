from django.apps import AppConfig


class SSOConfig(AppConfig):
    name = "kjda.accounts.sso.dingtalk"
    label = "sso_dingtalk"
