from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "kjda.accounts"
    label = "accounts"
