"""The security administrator's users page, the forced first password change, and a menu that
shows each role only what it may open."""

from __future__ import annotations

import pytest
from django.test import Client

from kjda.accounts.models import Profile

pytestmark = pytest.mark.django_db


def _user(django_user_model, name, roles, **profile):
    from kjda_oasim.factories import totp_activate

    user = django_user_model.objects.create_user(name, password="Users-Page-2024!")
    Profile.objects.create(user=user, roles=roles, **profile)
    if {"sysadmin", "secadmin", "auditadmin"} & set(roles):
        totp_activate(user)
    c = Client()
    c.force_login(user)
    return c


def test_the_security_administrator_creates_a_scoped_user_who_must_change_the_password(
        fonds, django_user_model):
    sec = _user(django_user_model, "sec", ["secadmin"])
    page = sec.get("/users/")
    assert page.status_code == 200
    assert "系统管理员" in page.content.decode()  # the trio still to be named
    resp = sec.post("/users/", {"action": "create", "username": "kuaiji",
                                "password": "Kuaiji-Pass-2024!", "roles": ["accountant"],
                                "fonds": ["Z001"], "departments": "销售部，采购部",
                                "person_name": "王会计"})
    assert resp.status_code == 302
    p = Profile.objects.get(user__username="kuaiji")
    assert p.roles == ["accountant"] and p.fonds == ["Z001"]
    assert p.departments == ["采购部", "销售部"] and p.must_change_password

    c = Client()
    assert c.login(username="kuaiji", password="Kuaiji-Pass-2024!")
    assert c.get("/records/")["Location"] == "/password/"
    done = c.post("/password/", {"old_password": "Kuaiji-Pass-2024!",
                                 "new_password1": "Another-Kuaiji-2025!",
                                 "new_password2": "Another-Kuaiji-2025!"})
    assert done.status_code == 302
    assert c.get("/records/").status_code == 200
    assert not Profile.objects.get(user__username="kuaiji").must_change_password


def test_separation_of_duties_is_refused_with_a_message(fonds, django_user_model):
    sec = _user(django_user_model, "sec", ["secadmin"])
    resp = sec.post("/users/", {"action": "create", "username": "x", "roles": ["sysadmin",
                                                                               "auditadmin"],
                                "password": "Both-Roles-2024!"})
    assert resp.status_code == 200 and "三员分立" in resp.content.decode()
    assert not django_user_model.objects.filter(username="x").exists()


def test_the_menu_shows_only_what_the_role_may_open(fonds, django_user_model):
    sysadmin = _user(django_user_model, "sys", ["sysadmin"]).get("/").content.decode()
    assert 'href="/connectors/"' in sysadmin and 'href="/records/"' not in sysadmin
    assert 'href="/users/"' not in sysadmin
    employee = _user(django_user_model, "emp", ["employee"]).get("/").content.decode()
    assert 'href="/records/"' in employee and 'href="/records/new/"' not in employee
    assert 'href="/connectors/"' not in employee
