from __future__ import annotations

import hashlib
import io
import os

import pytest

from kjda.storage.digests import (
    OPENSSL_SM3,
    DigestHasher,
    GmsslSm3,
    digest_stream,
    new_sm3,
    require_sha256,
)
from kjda.storage.errors import StorageError

# GB/T 32905-2016 appendix A, plus the empty message.
SM3_VECTORS = [
    (b"abc", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"),
    (b"abcd" * 16, "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"),
    (b"", "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b"),
]
SM3_IMPLEMENTATIONS = [pytest.param(GmsslSm3, id="gmssl")]
if OPENSSL_SM3:
    SM3_IMPLEMENTATIONS.append(pytest.param(lambda: hashlib.new("sm3"), id="openssl"))


@pytest.mark.parametrize("make", SM3_IMPLEMENTATIONS)
@pytest.mark.parametrize(("message", "expected"), SM3_VECTORS)
def test_sm3_matches_standard_vectors(make, message: bytes, expected: str) -> None:
    h = make()
    h.update(message)
    assert h.hexdigest() == expected


@pytest.mark.parametrize("split", [1, 7, 55, 56, 63, 64, 65, 1000])
def test_gmssl_fallback_is_incremental_across_block_boundaries(split: int) -> None:
    data = os.urandom(3 * 64 + 17)
    whole, pieces = GmsslSm3(), GmsslSm3()
    whole.update(data)
    for i in range(0, len(data), split):
        pieces.update(data[i : i + split])
    assert pieces.hexdigest() == whole.hexdigest()


@pytest.mark.skipif(not OPENSSL_SM3, reason="OpenSSL without SM3")
@pytest.mark.parametrize("length", [55, 56, 64, 119, 120, 4099])
def test_gmssl_fallback_agrees_with_openssl(length: int) -> None:
    data = os.urandom(length)
    fallback = GmsslSm3()
    fallback.update(data)
    assert fallback.hexdigest() == hashlib.new("sm3", data).hexdigest()


def test_digests_match_hashlib_for_random_data() -> None:
    data = os.urandom(3 * 1024 * 1024 + 12345)  # several chunks and a ragged end
    digests = digest_stream(io.BytesIO(data))
    assert digests.sha256 == hashlib.sha256(data).hexdigest()
    expected_sm3 = new_sm3()
    expected_sm3.update(data)
    assert digests.sm3 == expected_sm3.hexdigest()
    assert digests.size == len(data)


def test_hasher_gives_same_digests_however_the_stream_is_chunked() -> None:
    data = os.urandom(10_000)
    hasher = DigestHasher()
    for i in range(0, len(data), 333):
        hasher.update(data[i : i + 333])
    assert hasher.digests() == digest_stream(io.BytesIO(data))


@pytest.mark.parametrize(
    "value", ["../../etc/passwd", "A" * 64, "a" * 63, "a" * 65, "g" * 64, "a" * 64 + "\n"]
)
def test_only_lowercase_hex_sha256_is_accepted_as_a_name(value: str) -> None:
    with pytest.raises(StorageError) as err:
        require_sha256(value)
    assert err.value.code == "invalid_sha256"
