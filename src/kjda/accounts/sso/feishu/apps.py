from django.apps import AppConfig


class SSOConfig(AppConfig):
    name = "kjda.accounts.sso.feishu"
    label = "sso_feishu"
