from django.urls import include, path

from kjda.web.views import auth, dashboard, records, upload

app_name = "web"

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("login/", auth.LoginView.as_view(), name="login"),
    path("logout/", auth.LogoutView.as_view(), name="logout"),
    path("records/", records.record_list, name="record_list"),
    path("records/new/", upload.record_upload, name="record_upload"),
    path("records/<int:record_id>/", records.record_detail, name="record_detail"),
    path("files/<int:file_id>/content", records.file_content, name="file_content"),
    path("retention/", dashboard.retention_table, name="retention_table"),
    path("i18n/", include("django.conf.urls.i18n")),
]
