"""The storage tests' fixtures: a real moto S3 server on loopback, fresh backend caches."""

from kjda.storage.tests.conftest import (  # noqa: F401 - fixtures, used by name
    _fresh_backends,
    aws_env,
    moto_endpoint,
    s3_bucket,
    s3_client,
    s3_url,
)
