"""Log in (django-allauth) and out, change the password: in our templates, audited."""

from __future__ import annotations

from allauth.account.views import LoginView as AllauthLoginView
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import SetPasswordForm
from django.http import HttpRequest, HttpResponseRedirect

from kjda.accounts.requests import AuthedRequest
from kjda.accounts.services import user_password_change
from kjda.accounts.sso.oidc.logout import oidc_end_session_url
from kjda.audit.models import Action, Outcome
from kjda.audit.services import audit_log


class LoginView(AllauthLoginView):
    """django-allauth's login (lockout after repeated failures, TOTP second step) in our page.
    Successful logins are audited by the `user_logged_in` signal (accounts app), whichever way
    the user came in; failures and lockouts here."""

    template_name = "web/login.html"

    def form_invalid(self, form):
        username = (form.data.get("login") or "")[:150]
        errors = " ".join(str(e) for e in form.non_field_errors())
        audit_log(action=Action.AUTH_FAILED, request=self.request, outcome=Outcome.FAILURE,
                  object_type="user", object_id=username, actor_name=username,
                  detail={"channel": "web", "reason": errors[:200]})
        return super().form_invalid(form)


class LogoutView(auth_views.LogoutView):
    def post(self, request: HttpRequest, *args, **kwargs):
        idp_logout = oidc_end_session_url(request)  # read before the session ends
        if request.user.is_authenticated:
            audit_log(action=Action.AUTH_LOGOUT, request=request, object_type="user",
                      object_id=str(request.user.pk), detail={"idp_logout": bool(idp_logout)})
        response = super().post(request, *args, **kwargs)
        # RP-initiated logout: the IdP ends its session too and sends the browser back to our
        # login page (else the next SSO click would sign the same person in silently).
        return HttpResponseRedirect(idp_logout) if idp_logout else response


class PasswordChangeView(auth_views.PasswordChangeView):
    """Also where a generated account is sent at its first login (must_change_password). An
    account with no usable password (made by single sign-on) is not asked for a current
    password it never had: it may set one (a fallback if the IdP is down)."""

    template_name = "web/password_change.html"
    request: AuthedRequest  # Django's PasswordChangeView requires a login

    def get_form_class(self):
        if not self.request.user.has_usable_password():
            return SetPasswordForm
        return super().get_form_class()

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs),
                "first_password": not self.request.user.has_usable_password()}

    def get_success_url(self) -> str:
        from django.urls import reverse

        return reverse("web:dashboard")

    def form_valid(self, form):
        # The form checked the old password; the service writes, clears must_change_password
        # and audits in one transaction (not form.save(), which would bypass it).
        user_password_change(user=form.user, password=form.cleaned_data["new_password1"],
                             actor=self.request.user, request=self.request)
        update_session_auth_hash(self.request, form.user)  # this session stays logged in
        return HttpResponseRedirect(self.get_success_url())
