"""row_get returns the instance the ORM returns: every field, converted the same way."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.forms.models import model_to_dict
from django.utils import timezone

from kjda.accounts.models import ApiToken, Profile
from kjda.db.rows import row_get

pytestmark = pytest.mark.django_db


def _fields(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def test_row_get_returns_what_the_orm_returns():
    user = get_user_model().objects.create_user("kuaiji", password="x" * 12, is_staff=True)
    profile, _ = Profile.objects.update_or_create(
        user=user, defaults={"roles": ["accountant", "auditor"], "fonds": ["Z001"],
                             "departments": ["销售部"]})
    token = ApiToken.objects.create(user=user, key_hash="ab" * 32, name="测试", scopes=["ingest"],
                                    expires_at=timezone.now() + timedelta(days=1))

    for model, where, params, expected in [
            (Profile, "user_id = %s", [user.pk], Profile.objects.get(pk=profile.pk)),
            (ApiToken, "key_hash = %s", ["ab" * 32], ApiToken.objects.get(pk=token.pk)),
            (get_user_model(), "id = %s", [user.pk], get_user_model().objects.get(pk=user.pk))]:
        got = row_get(model, where, params)
        assert type(got) is model and not got._state.adding and got._state.db == "default"
        assert _fields(got) == _fields(expected)
        assert model_to_dict(got) == model_to_dict(expected)
    got = row_get(Profile, "user_id = %s", [user.pk])
    assert got.roles == ["accountant", "auditor"] and got.departments == ["销售部"]  # JSON decoded
    assert row_get(ApiToken, "key_hash = %s", ["cd" * 32]) is None
