from django.apps import AppConfig


class SSOConfig(AppConfig):
    name = "kjda.connectors.vendors.wecom.sso"
    label = "sso_wecom"
