from django.urls import include, path

from kjda.api.api import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("", include("kjda.web.urls")),
]
