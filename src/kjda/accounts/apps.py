from django.apps import AppConfig
from django.http import HttpRequest


class AccountsConfig(AppConfig):
    name = "kjda.accounts"
    label = "accounts"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        user_logged_in.connect(_audit_login, dispatch_uid="kjda-audit-login")


def _audit_login(sender, request: HttpRequest, user, **kwargs) -> None:
    """Every way in (password, password + TOTP, SSO) ends in Django's login()."""
    from kjda.audit.models import Action
    from kjda.audit.services import audit_log

    audit_log(action=Action.AUTH_LOGIN, actor=user, request=request, object_type="user",
              object_id=str(user.pk))
