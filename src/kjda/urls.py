from django.urls import include, path

from kjda.api.api import api
from kjda.connectors.views import oa_callback

urlpatterns = [
    path("api/v1/", api.urls),
    path("oa/<uuid:connector_id>/callback", oa_callback, name="oa-callback"),
    path("accounts/", include("allauth.urls")),
    path("", include("kjda.web.urls")),
]

# JSON under /api/, Django's pages elsewhere.
handler400 = "kjda.api.errors.bad_request"
handler403 = "kjda.api.errors.permission_denied"
handler404 = "kjda.api.errors.page_not_found"
handler500 = "kjda.api.errors.server_error"
