"""Log in and out with Django's auth views and our template; both are audited."""

from __future__ import annotations

from django.contrib.auth import views as auth_views

from kjda.audit.models import Action, Outcome
from kjda.audit.services import audit_log


class LoginView(auth_views.LoginView):
    template_name = "web/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form):
        response = super().form_valid(form)
        user = form.get_user()
        audit_log(action=Action.AUTH_LOGIN, actor=user, request=self.request,
                  object_type="user", object_id=str(user.pk))
        return response

    def form_invalid(self, form):
        username = (form.data.get("username") or "")[:150]
        audit_log(action=Action.AUTH_FAILED, request=self.request, outcome=Outcome.FAILURE,
                  object_type="user", object_id=username, actor_name=username,
                  detail={"channel": "web"})
        return super().form_invalid(form)


class LogoutView(auth_views.LogoutView):
    def post(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            audit_log(action=Action.AUTH_LOGOUT, request=request, object_type="user",
                      object_id=str(request.user.pk))
        return super().post(request, *args, **kwargs)


class PasswordChangeView(auth_views.PasswordChangeView):
    """Also where a generated account is sent at its first login (must_change_password)."""

    template_name = "web/password_change.html"

    def get_success_url(self) -> str:
        from django.urls import reverse

        return reverse("web:dashboard")

    def form_valid(self, form):
        from kjda.accounts.models import Profile

        response = super().form_valid(form)
        Profile.objects.filter(user=self.request.user).update(must_change_password=False)
        audit_log(action="auth.password_change", request=self.request, object_type="user",
                  object_id=str(self.request.user.pk))
        return response
