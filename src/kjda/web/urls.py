from django.urls import include, path

from kjda.web.views import (
    auth,
    connectors,
    dashboard,
    intake,
    records,
    tokens,
    upload,
    users,
    volumes,
)

app_name = "web"

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("login/", auth.LoginView.as_view(), name="login"),
    path("logout/", auth.LogoutView.as_view(), name="logout"),
    path("password/", auth.PasswordChangeView.as_view(), name="password_change"),
    path("users/", users.user_list, name="user_list"),
    path("tokens/", tokens.token_page, name="tokens"),
    path("records/", records.record_list, name="record_list"),
    path("records/new/", upload.record_upload, name="record_upload"),
    path("records/<int:record_id>/", records.record_detail, name="record_detail"),
    path("files/<int:file_id>/content", records.file_content, name="file_content"),
    path("retention/", dashboard.retention_table, name="retention_table"),
    path("connectors/", connectors.connector_list, name="connector_list"),
    path("connectors/new/", connectors.connector_new, name="connector_new"),
    path("connectors/<uuid:connector_id>/", connectors.connector_detail,
         name="connector_detail"),
    path("connectors/<uuid:connector_id>/mappings/", connectors.mapping_new,
         name="mapping_new"),
    path("connectors/<uuid:connector_id>/sweep/", connectors.connector_sweep,
         name="connector_sweep"),
    path("intake/", intake.intake_list, name="intake_list"),
    path("intake/<int:event_pk>/retry/", intake.intake_retry_view, name="intake_retry"),
    # 组卷 (issue 17 item 2)
    path("volumes/", volumes.volume_list, name="volume_list"),
    path("volumes/assemble/", volumes.volume_assemble, name="volume_assemble"),
    path("volumes/rules/", volumes.volume_rules, name="volume_rules"),
    path("volumes/rules/save/", volumes.volume_rule_save, name="volume_rule_save"),
    path("volumes/rules/<int:rule_id>/delete/", volumes.volume_rule_remove,
         name="volume_rule_remove"),
    path("volumes/numbering/", volumes.volume_numbering_save, name="volume_numbering_save"),
    path("volumes/<int:volume_id>/", volumes.volume_detail, name="volume_detail"),
    path("volumes/<int:volume_id>/move/", volumes.volume_move, name="volume_move"),
    path("volumes/<int:volume_id>/close/", volumes.volume_close, name="volume_close"),
    path("volumes/<int:volume_id>/<str:name>", volumes.volume_document, name="volume_document"),
    path("i18n/", include("django.conf.urls.i18n")),
]
