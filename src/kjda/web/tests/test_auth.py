"""Every page but the login page needs a session; logins, failures and logouts are audited."""

from __future__ import annotations

import pytest
from django.test import Client

from kjda.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

PAGES = ["/", "/records/", "/records/new/", "/records/1/", "/files/1/content", "/retention/"]


@pytest.mark.parametrize("path", PAGES)
def test_pages_redirect_anonymous_users_to_the_login_page(path):
    response = Client().get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_login_page_renders_in_chinese():
    response = Client().get("/login/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "用户名" in html and "密码" in html
    assert '<html lang="zh-hans">' in html


def test_successful_login_is_audited_and_lands_on_the_dashboard(archivist):
    client = Client()
    response = client.post("/login/", {"login": "archivist", "password": "Archive-Pass-2024"})
    assert response.status_code == 302 and response["Location"] == "/"
    event = AuditEvent.objects.get(action="auth.login")
    assert event.actor_id == archivist.pk and event.outcome == "success"
    dashboard = client.get("/")
    assert dashboard.status_code == 200 and "archivist" in dashboard.content.decode()


def test_failed_login_is_audited_with_the_username_tried(archivist):
    response = Client().post("/login/", {"login": "archivist", "password": "wrong"})
    assert response.status_code == 200
    assert "用户名或密码错误" in response.content.decode()
    event = AuditEvent.objects.get(action="auth.failed")
    assert event.outcome == "failure" and event.actor_id is None
    assert event.actor_name == "archivist" and event.object_id == "archivist"


def test_login_redirects_to_next(archivist):
    response = Client().post("/login/?next=/retention/",
                             {"login": "archivist", "password": "Archive-Pass-2024",
                              "next": "/retention/"})
    assert response["Location"] == "/retention/"


def test_logout_is_a_post_and_is_audited(web, archivist):
    response = web.post("/logout/")
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert AuditEvent.objects.filter(action="auth.logout", actor=archivist).exists()
    assert web.get("/").status_code == 302
