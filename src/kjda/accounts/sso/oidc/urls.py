from django.urls import include, path, re_path

from kjda.accounts.sso.oidc import views

urlpatterns = [
    path("oidc/", include([
        re_path(r"^(?P<provider_id>[^/]+)/", include([
            path("login/", views.login, name="oidc_login"),
            path("login/callback/", views.callback, name="oidc_callback"),
        ])),
    ])),
]
