"""The REST API under /api/v1/ (OpenAPI at /api/v1/docs). Routers are thin over services."""

from ninja import NinjaAPI

api = NinjaAPI(
    title="KJDA 电子会计档案 API",
    version="1",
    urls_namespace="api",
    docs_url="/docs",
)
