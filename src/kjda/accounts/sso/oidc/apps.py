from django.apps import AppConfig


class SSOConfig(AppConfig):
    name = "kjda.accounts.sso.oidc"
    label = "sso_oidc"
