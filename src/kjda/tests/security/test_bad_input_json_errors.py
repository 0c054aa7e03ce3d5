"""Issue 15 item 11: bad input always gets the JSON error. Deep or large JSON (record metadata
with its `extra`, API bodies), broken bodies, bad file names and usernames are refused with a
4xx `{code, message}` under /api/, never an HTML page or a 500; the unexpected is a JSON 500."""

from __future__ import annotations

import json
import logging

import pytest
from django.test import Client, override_settings

from kjda_oasim.factories import metadata_json

DEEP = 5000


def nested(levels: int, leaf: object = 1) -> object:
    value = leaf
    for _ in range(levels - 1):
        value = {"a": value}
    return {"a": value} if levels else leaf


def deep_text(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


def assert_json_error(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, (resp.status_code, resp.content[:300])
    assert resp["Content-Type"].startswith("application/json"), resp["Content-Type"]
    body = resp.json()
    assert body["code"] == code, body
    assert body["message"] and body["message_zh"] and body["message_en"]
    assert "Traceback" not in resp.content.decode()
    return body


@pytest.fixture
def sec(db, fonds):
    from django.contrib.auth import get_user_model

    from kjda.accounts.models import Profile
    from kjda.accounts.services import token_issue
    from kjda_oasim.factories import totp_activate

    user = get_user_model().objects.create_user("sec", password="Sec-Admin-Pass-2024!")
    Profile.objects.create(user=user, roles=["secadmin"])
    totp_activate(user)
    c = Client()
    c.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token_issue(user=user, name='t')[1]}"
    return c


def _user_body(**overrides) -> dict:
    return {"username": "kuaiji", "password": "Kuaiji-Pass-2024!", "roles": ["accountant"],
            **overrides}


# --- record metadata (multipart form field) ---------------------------------------------

def test_metadata_5000_levels_deep_is_a_json_400_not_a_500(api, voucher_files):
    resp = api.post_record(deep_text(DEEP), voucher_files)
    assert_json_error(resp, 400, "json_too_deep")
    extra = api.post_record(metadata_json()[:-1] + ', "extra": ' + deep_text(DEEP) + "}",
                            voucher_files)
    assert_json_error(extra, 400, "json_too_deep")


def test_metadata_extra_deeper_than_64_levels_is_refused_and_64_is_filed(api, voucher_files):
    resp = api.post_record(metadata_json(extra=nested(65)), voucher_files)
    body = assert_json_error(resp, 400, "json_too_deep")
    assert body["detail"]["max_depth"] == 64
    # 64 levels in all (the metadata object is the first): filed, and answered as JSON
    ok = api.post_record(metadata_json(extra=nested(63)), voucher_files)
    assert ok.status_code == 201, ok.content[:300]
    assert ok.json()["metadata"]["extra"] == nested(63)


def test_metadata_over_256_kb_is_a_json_413(api, voucher_files):
    resp = api.post_record(metadata_json(extra={"blob": "x" * (256 * 1024)}), voucher_files)
    body = assert_json_error(resp, 413, "json_too_large")
    assert body["detail"]["max_bytes"] == 256 * 1024


def test_metadata_not_json_or_not_utf8(api, voucher_files):
    assert_json_error(api.post_record("{not json", voucher_files), 400, "metadata_malformed")


# --- file names --------------------------------------------------------------------------

@pytest.mark.parametrize("name, shown", [("a\x00b.pdf", "a\\x00b.pdf"),
                                         ("invoice\u202efdp.exe", "invoice\\u202efdp.exe"),
                                         ("line\nbreak.pdf", "line\\nbreak.pdf")])
def test_file_names_with_control_characters_are_refused_as_received(api, voucher_files,
                                                                    name, shown):
    meta = metadata_json(files=[{"filename": name}, {}])
    body = assert_json_error(api.post_record(meta, voucher_files), 400, "filename_invalid")
    assert body["detail"]["filename"] == shown
    assert shown in body["message_en"]


# --- JSON bodies (ninja) -------------------------------------------------------------------

def test_deep_json_body_is_a_json_400(sec, api):
    resp = sec.post("/api/v1/users", deep_text(DEEP), content_type="application/json")
    assert_json_error(resp, 400, "json_too_deep")
    connector = api.client.post("/api/v1/connectors", json.dumps(
        {"kind": "webhook", "name": "x", "settings": nested(100)}),
        content_type="application/json", headers=api.headers)
    assert_json_error(connector, 400, "json_too_deep")


def test_large_json_body_is_a_json_413(sec):
    resp = sec.post("/api/v1/users", json.dumps(_user_body(person_name="x" * 300_000)),
                    content_type="application/json")
    assert_json_error(resp, 413, "json_too_large")


def test_invalid_utf8_body_is_a_json_400(sec):
    resp = sec.post("/api/v1/users", b'{"username": "\xff\xfe"}', content_type="application/json")
    assert_json_error(resp, 400, "json_malformed")


def test_wrong_content_type_is_a_json_415(sec):
    resp = sec.post("/api/v1/users", json.dumps(_user_body()), content_type="text/plain")
    assert_json_error(resp, 415, "unsupported_media_type")
    form = sec.post("/api/v1/users", "username=x&password=y",
                    content_type="application/x-www-form-urlencoded")
    assert_json_error(form, 415, "unsupported_media_type")


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10_000)
def test_body_over_data_upload_max_memory_size_is_a_json_413(sec, api):
    resp = sec.post("/api/v1/users", json.dumps(_user_body(person_name="x" * 20_000)),
                    content_type="application/json")
    assert_json_error(resp, 413, "request_too_large")
    # and a multipart form field over it
    big = api.client.post("/api/v1/records", {"metadata": metadata_json(notes="x" * 20_000)},
                          headers=api.headers)
    assert_json_error(big, 413, "request_too_large")


def test_malformed_multipart_is_a_json_400(api):
    resp = api.client.post("/api/v1/records", b"--nope\r\nnothing", headers=api.headers,
                           content_type="multipart/form-data")  # no boundary
    assert_json_error(resp, 400, "multipart_malformed")


# --- usernames ----------------------------------------------------------------------------

@pytest.mark.parametrize("username", ["bad name", "tab\tname", "nul\x00", "=HYPERLINK(1)",
                                      "x" * 151, ""])
def test_unsafe_usernames_are_refused_by_the_api(sec, username):
    resp = sec.post("/api/v1/users", json.dumps(_user_body(username=username)),
                    content_type="application/json")
    assert_json_error(resp, 400, "username_invalid")


def test_unsafe_usernames_are_refused_by_the_users_page(db, fonds, django_user_model):
    from kjda.accounts.models import Profile
    from kjda_oasim.factories import totp_activate

    user = django_user_model.objects.create_user("sec", password="Sec-Admin-Pass-2024!")
    Profile.objects.create(user=user, roles=["secadmin"])
    totp_activate(user)
    c = Client()
    c.force_login(user)
    resp = c.post("/users/", {"action": "create", "username": "=cmd|' /C calc'!A0",
                              "password": "Kuaiji-Pass-2024!", "roles": ["accountant"]},
                  follow=True)
    assert resp.status_code == 200
    assert not django_user_model.objects.filter(username__startswith="=").exists()
    # letters of any script, digits and . @ + - _ are fine
    ok = c.post("/users/", {"action": "create", "username": "王会计.cn-01",
                            "password": "Kuaiji-Pass-2024!", "roles": ["accountant"]})
    assert ok.status_code == 302
    assert django_user_model.objects.filter(username="王会计.cn-01").exists()


# --- anything else -----------------------------------------------------------------------

def test_an_unexpected_exception_is_a_logged_json_500(api, monkeypatch, caplog):
    from kjda.archives import selectors

    def broken(**kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(selectors, "record_list", broken)
    with caplog.at_level(logging.ERROR, logger="kjda.api.api"):
        resp = api.get("/api/v1/records")
    body = assert_json_error(resp, 500, "internal_error")
    assert "secret internals" not in json.dumps(body)
    assert any(r.exc_info and "secret internals" in str(r.exc_info[1]) for r in caplog.records)


def test_unknown_api_path_is_a_json_404(db):
    assert_json_error(Client().get("/api/v2/nothing"), 404, "not_found")
    # and pages outside /api/ keep Django's HTML answer
    page = Client().get("/no-such-page/")
    assert page.status_code in (302, 404) and "application/json" not in page["Content-Type"]


def test_a_method_the_path_does_not_take_is_a_json_405(sec):
    resp = sec.delete("/api/v1/me")
    body = assert_json_error(resp, 405, "method_not_allowed")
    assert "DELETE" in body["message_en"] and resp["Allow"] == "GET"
