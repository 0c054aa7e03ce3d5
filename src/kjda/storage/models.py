from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models

_hex64 = RegexValidator(r"^[0-9a-f]{64}$", "64 个小写十六进制字符 / 64 lower-case hex digits")


class Blob(models.Model):
    """One stored byte string, named by its SHA-256; the store is write-once."""

    sha256 = models.CharField(max_length=64, primary_key=True, validators=[_hex64])
    sm3 = models.CharField(max_length=64, validators=[_hex64])  # recorded, not looked up
    size = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    # Set when the bytes were removed on purpose by a destruction (79号令 Art.18): the row stays
    # as the tombstone of the digests, and fixity/orphan checks know the absence is intended.
    destroyed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "文件对象"
        verbose_name_plural = "文件对象"

    def __str__(self) -> str:
        return f"{self.sha256} ({self.size} B)"
