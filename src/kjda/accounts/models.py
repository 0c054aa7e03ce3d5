"""Accounts: API tokens, and each user's roles and data scope (issue #4)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    """A bearer token, stored only as its SHA-256 hash; the raw value is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="api_tokens")
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)  # shown in lists so a token can be recognised
    scopes = models.JSONField(default=list)  # "read" | "ingest" | "admin"
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # The token this one was made with (None: made by a login or a password). A child never
    # has wider scopes or a later expiry, and revoking a token revokes its descendants.
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE,
                               related_name="children")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class Profile(models.Model):
    """What KJDA knows about a user beyond Django's account: roles and data scope.

    `fonds` and `departments` limit the content roles; empty means every fonds / department.
    `person_name` is the name OA forms carry as the applicant (张三), for the employee role."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="kjda_profile")
    roles = models.JSONField(default=list)
    fonds = models.JSONField(default=list)  # fonds codes
    departments = models.JSONField(default=list)
    person_name = models.CharField(max_length=100, blank=True)
    department = models.CharField(max_length=200, blank=True)  # the user's own, from the OA
    mobile = models.CharField(max_length=32, blank=True)  # from the OA directory, for SSO matching
    must_change_password = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user} {self.roles}"


class DirectoryDepartment(models.Model):
    """A department as an OA directory (DingTalk, WeCom, Feishu) lists it, kept current by the
    directory sync; a user's `Profile.department` is the name of one of these."""

    source = models.CharField(max_length=40)  # the connector's kind: dingtalk | wecom | feishu
    external_id = models.CharField(max_length=100)
    name = models.CharField(max_length=200)
    parent_external_id = models.CharField(max_length=100, blank=True)
    active = models.BooleanField(default=True)
    synced_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "external_id"],
                                               name="uniq_directory_department")]
        ordering = ["source", "name"]

    def __str__(self) -> str:
        return f"{self.source}:{self.name}"
