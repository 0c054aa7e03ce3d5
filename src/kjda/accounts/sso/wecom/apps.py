from django.apps import AppConfig


class SSOConfig(AppConfig):
    name = "kjda.accounts.sso.wecom"
    label = "sso_wecom"
