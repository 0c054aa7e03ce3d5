from django.apps import AppConfig


class SSOConfig(AppConfig):
    name = "kjda.accounts.sso.oidc"
    label = "sso_oidc"

    def ready(self) -> None:
        from allauth.account.signals import user_logged_in

        from kjda.accounts.sso.oidc.logout import on_user_logged_in

        user_logged_in.connect(on_user_logged_in, dispatch_uid="kjda-oidc-logout")
