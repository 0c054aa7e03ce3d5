from django.urls import include, path

from kjda.web.views import (
    appraisals,
    auth,
    connectors,
    correction,
    dashboard,
    intake,
    records,
    tokens,
    upload,
    users,
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
    # putting a pending record right; a filed record's description (issue 17 item 1)
    path("records/<int:record_id>/files/", correction.record_file_post, name="record_file_add"),
    path("records/<int:record_id>/correct/", correction.record_correct_post,
         name="record_correct"),
    path("records/<int:record_id>/recheck/", correction.record_recheck_post,
         name="record_recheck"),
    path("records/<int:record_id>/withdraw/", correction.record_withdraw_post,
         name="record_withdraw"),
    # issue 17 items 4, 8, 9: retention rules administered, appraisal, Art.8
    path("retention/", appraisals.retention_rules, name="retention_table"),
    path("retention/save/", appraisals.retention_rule_save, name="retention_rule_save"),
    path("appraisals/", appraisals.appraisal_list, name="appraisal_list"),
    path("appraisals/expired/", appraisals.appraisal_expired, name="appraisal_expired"),
    path("appraisals/<int:batch_id>/", appraisals.appraisal_detail, name="appraisal_detail"),
    path("appraisals/<int:batch_id>/<str:step>/", appraisals.appraisal_step,
         name="appraisal_step"),
    path("fonds/<str:code>/art8/", appraisals.fonds_art8, name="fonds_art8"),
    path("records/<int:record_id>/asset-disposed/", appraisals.record_asset_disposed,
         name="record_asset_disposed"),
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
    path("i18n/", include("django.conf.urls.i18n")),
]
