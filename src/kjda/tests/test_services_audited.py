"""Every public function of every `kjda.*.services` module is either a write that audits itself
(named here with its audit action and a test that asserts that event) or exempt for a stated
reason. A new service function fails this test until it is put in one of the two tables, so a
write cannot quietly skip its audit event (issue 16 item 1)."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

import kjda

ROOT = Path(kjda.__file__).parent

# service function → (the audit action it writes, "path under src/kjda::test" asserting it)
AUDITED: dict[str, tuple[str, str]] = {
    # accounts
    "kjda.accounts.services.token_mint": (
        "auth.token", "accounts/tests/test_services_audit.py::"
        "test_a_token_minted_by_a_session_is_audited_with_its_channel"),
    "kjda.accounts.services.token_for_credentials": (
        "auth.token", "accounts/tests/test_services_audit.py::"
        "test_a_token_for_a_password_is_audited_by_the_service_with_its_owner"),
    "kjda.accounts.services.totp_check": (
        "auth.failed", "tests/security/test_mfa_every_channel.py::"
        "test_the_password_token_endpoint_takes_the_totp_code_once"),
    "kjda.accounts.services.token_revoke": (
        "auth.token_revoke", "tests/security/test_tokens_never_grow.py::"
        "test_revoking_a_token_revokes_the_tokens_made_with_it"),
    "kjda.accounts.services.system_user": (
        "user.create", "accounts/tests/test_services_audit.py::"
        "test_a_new_system_account_is_audited_once"),
    "kjda.accounts.services.user_bootstrap": (
        "user.create", "accounts/tests/test_services_audit.py::"
        "test_the_bootstrap_admin_is_created_once_and_audited"),
    "kjda.accounts.services.user_create": (
        "user.create", "accounts/tests/test_services_audit.py::"
        "test_a_new_account_is_audited_by_the_service_with_who_made_it"),
    "kjda.accounts.services.user_update": (
        "user.update", "api/tests/test_permission_matrix.py::"
        "test_a_role_change_applies_at_once_and_is_audited"),
    "kjda.accounts.services.user_roles_split": (
        "user.update", "tests/security/test_separation_of_duties.py::"
        "test_the_bootstrap_admin_is_split_by_the_first_real_security_administrator"),
    "kjda.accounts.services.user_password_change": (
        "auth.password_change", "accounts/tests/test_services_audit.py::"
        "test_a_password_change_is_written_and_audited_by_the_service"),
    "kjda.accounts.services.user_unlock": (
        "user.unlock", "tests/security/test_lockout_admins.py::"
        "test_the_security_administrator_unlocks_an_account"),
    "kjda.accounts.services.login_failure_record": (
        "auth.lockout", "tests/security/test_lockout_admins.py::"
        "test_a_locked_administrator_raises_an_alert"),
    "kjda.accounts.sso.services.sso_provision": (
        "user.provision", "accounts/tests/test_sso_oidc.py::"
        "test_oidc_login_with_pkce_and_nonce_provisions_the_user"),
    "kjda.accounts.sso.services.sso_profile_refresh": (
        "user.update", "accounts/tests/test_services_audit.py::"
        "test_a_directory_profile_refresh_is_audited_and_a_non_directory_one_writes_nothing"),
    "kjda.accounts.sso.services.users_access_end": (
        "user.deactivate", "accounts/tests/test_directory_sync.py::"
        "test_a_leaver_loses_access_at_the_next_sync"),
    "kjda.accounts.sso.services.sso_app_save": (
        "sso.configure", "accounts/tests/test_sso_config.py::"
        "test_provider_configured_in_the_database_by_command"),
    # the login itself is allauth's (auth.sso by the adapter, auth.login by the signal)
    "kjda.accounts.sso.services.sso_inapp_login": (
        "auth.failed", "accounts/tests/test_sso_inapp.py::"
        "test_a_bad_or_replayed_code_is_refused_and_audited"),
    # archives
    "kjda.archives.services.fonds_ensure": (
        "fonds.create", "archives/tests/test_services_audit.py::"
        "test_seeding_a_fonds_is_audited_once"),
    "kjda.archives.services.fonds_update": (
        "fonds.update", "archives/tests/test_fonds_update.py::"
        "test_a_fonds_change_is_audited_once_with_its_actor"),
    "kjda.archives.services.volume_close": (
        "volume.close", "archives/tests/test_numbering.py::"
        "test_by_volume_items_get_numbers_when_the_volume_closes"),
    "kjda.archives.services.record_set_asset_disposed": (
        "record.change", "archives/tests/test_services_audit.py::"
        "test_recording_an_asset_disposal_is_audited_with_its_actor"),
    # ingest
    "kjda.ingest.services.record_ingest": (
        "record.create", "web/tests/test_records.py::"
        "test_detail_shows_metadata_check_report_files_and_trail"),
    # connectors
    "kjda.connectors.services.connector_create": (
        "connector.create", "connectors/tests/test_intake_retry.py::"
        "test_creating_a_connector_and_a_mapping_audits_each_once_on_every_channel"),
    "kjda.connectors.services.connector_update_settings": (
        "connector.update", "connectors/tests/test_services_audit.py::"
        "test_a_settings_change_is_audited_by_name_never_by_value"),
    "kjda.connectors.services.mapping_create": (
        "connector.mapping_create", "connectors/tests/test_intake_retry.py::"
        "test_creating_a_connector_and_a_mapping_audits_each_once_on_every_channel"),
    "kjda.connectors.services.intake_retry": (
        "intake.retry", "connectors/tests/test_intake_retry.py::"
        "test_the_service_queues_a_failed_event_and_audits_who_asked"),
    "kjda.connectors.services.connector_sweep": (
        "connector.sweep", "connectors/tests/test_sweep.py::"
        "test_a_sweep_asked_by_a_person_queues_for_the_intake_loop_and_audits"),
    "kjda.archives.services.record_revoke": (
        "record.revoke", "archives/tests/test_services_audit.py::"
        "test_revoking_a_record_is_audited_in_its_transaction_and_only_once"),
    "kjda.connectors.services.inbox_events_commit": (
        "oa.callback_replayed", "connectors/tests/test_inbox_commit.py::"
        "test_one_commit_writes_the_batch_and_audits_a_replay_within_it"),
    # pending records put right, filed records' description corrected (issue 17 item 1)
    "kjda.ingest.services.record_file_add": (
        "record.file_add", "ingest/tests/test_pending_correction.py::"
        "test_a_missing_invoice_added_and_rechecked_files_the_record_with_its_archive_no"),
    "kjda.ingest.services.record_recheck": (
        "record.recheck", "ingest/tests/test_pending_correction.py::"
        "test_a_missing_invoice_added_and_rechecked_files_the_record_with_its_archive_no"),
    "kjda.ingest.services.record_metadata_correct": (
        "record.correct", "ingest/tests/test_pending_correction.py::"
        "test_a_filed_records_description_is_corrected_by_the_archivist_with_before_and_after"),
    "kjda.archives.services.record_withdraw": (
        "record.withdraw", "ingest/tests/test_pending_correction.py::"
        "test_withdrawing_a_pending_record_keeps_it_with_the_reason"),
    # storage
    "kjda.storage.services.storage_sweep": (
        "storage.sweep", "tests/security/test_no_orphans.py::"
        "test_storage_check_lists_orphans_and_last_sweep_and_can_sweep"),
    "kjda.storage.services.fixity_audit": (
        "storage.fixity_run", "storage/tests/test_fixity.py::"
        "test_intact_blobs_are_checked_and_recorded"),
    "kjda.storage.services.storage_restore_from_replica": (
        "storage.restored", "lifecycle/preservation/tests/test_storage_cli.py::"
        "test_restore_from_replica_rebuilds_a_deleted_primary"),
    "kjda.storage.services.replica_backfill": (
        "storage.replica_backfill", "storage/tests/test_replica.py::"
        "test_existing_blobs_are_backfilled_once_when_a_replica_is_configured"),
    # lifecycle.appraisal (issue 17 items 4 and 8)
    "kjda.lifecycle.appraisal.services.retention_local_rule_add": (
        "retention.rule_add", "lifecycle/appraisal/tests/test_retention_rules.py::"
        "test_a_local_rule_is_versioned_audited_and_records_keep_the_version_they_were_filed_under"),
    "kjda.lifecycle.appraisal.services.retention_local_rule_change": (
        "retention.rule_change", "lifecycle/appraisal/tests/test_retention_rules.py::"
        "test_a_local_rule_is_versioned_audited_and_records_keep_the_version_they_were_filed_under"),
    "kjda.lifecycle.appraisal.services.fonds_retention_schedule_set": (
        "retention.schedule_set", "lifecycle/appraisal/tests/test_retention_rules.py::"
        "test_a_fonds_on_schedule_2_files_a_two_year_report_with_its_expiry_and_class_code"),
    "kjda.lifecycle.appraisal.services.expiry_scan": (
        "appraisal.expiry_scan", "lifecycle/appraisal/tests/test_appraisal.py::"
        "test_the_daily_scan_finds_expired_records_and_raises_a_todo"),
    "kjda.lifecycle.appraisal.services.appraisal_create": (
        "appraisal.create", "lifecycle/appraisal/tests/test_appraisal.py::"
        "test_four_opinions_decide_destroy_and_keep_and_file_the_register"),
    "kjda.lifecycle.appraisal.services.appraisal_submit": (
        "appraisal.submit", "lifecycle/appraisal/tests/test_appraisal.py::"
        "test_four_opinions_decide_destroy_and_keep_and_file_the_register"),
    "kjda.lifecycle.appraisal.services.appraisal_opinion": (
        "appraisal.opinion", "lifecycle/appraisal/tests/test_appraisal.py::"
        "test_four_opinions_decide_destroy_and_keep_and_file_the_register"),
    "kjda.lifecycle.appraisal.services.appraisal_outcomes_set": (
        "appraisal.outcome", "lifecycle/appraisal/tests/test_appraisal.py::"
        "test_four_opinions_decide_destroy_and_keep_and_file_the_register"),
    "kjda.lifecycle.appraisal.services.appraisal_decide": (
        "appraisal.decide", "lifecycle/appraisal/tests/test_appraisal.py::"
        "test_four_opinions_decide_destroy_and_keep_and_file_the_register"),
    "kjda.lifecycle.appraisal.services.appraisal_cancel": (
        "appraisal.cancel", "lifecycle/appraisal/tests/test_appraisal.py::test_a_cancelled_batch_gives_its_items_back"),
    # lifecycle.transfers (issue 17 item 3: hand-over and temporary custody)
    **{f"kjda.lifecycle.transfers.services.{name}": (
        action, "lifecycle/transfers/tests/test_transfer_flow.py::"
        "test_a_transfer_hands_over_what_passes_and_returns_the_tampered_record")
       for name, action in (("transfer_create", "transfer.create"),
                            ("transfer_submit", "transfer.submit"),
                            ("transfer_checks_run", "transfer.check"),
                            ("transfer_items_decide", "transfer.decide"),
                            ("transfer_sign", "transfer.sign"),
                            ("transfer_register_file", "transfer.register_file"))},
    "kjda.lifecycle.transfers.services.transfer_cancel": (
        "transfer.cancel", "lifecycle/transfers/tests/test_transfer_flow.py::"
        "test_wrong_roles_and_wrong_states_are_refused"),
    "kjda.lifecycle.transfers.services.custody_extend": (
        "custody.extend", "lifecycle/transfers/tests/test_custody.py::"
        "test_custody_ends_a_year_after_year_end_and_may_be_extended_up_to_three"),
    "kjda.lifecycle.transfers.services.custody_overdue_notify": (
        "custody.overdue", "lifecycle/transfers/tests/test_custody.py::"
        "test_a_to_do_is_raised_once_when_custody_runs_out"),
    "kjda.lifecycle.transfers.services.custody_register_file": (
        "custody.register_file", "lifecycle/transfers/tests/test_custody.py::"
        "test_the_custody_register_is_filed_as_a_permanent_record"),
    # lifecycle.destruction (issue 17 items 5 and 6: holds and destruction)
    "kjda.lifecycle.volumes.services.volumes_unclosed_notify": (
        "volume.unclosed_notify", "lifecycle/volumes/tests/test_volumes.py::"
        "test_open_volumes_of_an_ended_year_are_a_todo_and_the_record_names_its_volume"),
    "kjda.lifecycle.destruction.services.hold_reviews_notify": (
        "hold.review_due", "lifecycle/destruction/tests/test_destruction.py::"
        "test_the_owner_gets_a_to_do_when_the_review_date_of_a_hold_comes"),
    "kjda.lifecycle.destruction.services.hold_place": (
        "hold.place", "lifecycle/destruction/tests/test_destruction.py::"
        "test_a_hold_on_records_blocks_selection_with_the_reason"),
    "kjda.lifecycle.destruction.services.hold_release": (
        "hold.release", "lifecycle/destruction/tests/test_destruction.py::"
        "test_a_hold_by_query_holds_records_filed_later_until_released"),
    "kjda.lifecycle.destruction.services.destruction_create": (
        "destruction.create", "lifecycle/destruction/tests/test_destruction.py::"
        "test_execution_removes_the_bytes_keeps_the_tombstone_and_files_the_register"),
    "kjda.lifecycle.destruction.services.destruction_submit": (
        "destruction.submit", "lifecycle/destruction/tests/test_destruction.py::"
        "test_execution_removes_the_bytes_keeps_the_tombstone_and_files_the_register"),
    "kjda.lifecycle.destruction.services.destruction_sign": (
        "destruction.sign", "lifecycle/destruction/tests/test_destruction.py::"
        "test_execution_removes_the_bytes_keeps_the_tombstone_and_files_the_register"),
    "kjda.lifecycle.destruction.services.destruction_witness": (
        "destruction.witness", "lifecycle/destruction/tests/test_destruction.py::"
        "test_execution_removes_the_bytes_keeps_the_tombstone_and_files_the_register"),
    "kjda.lifecycle.destruction.services.destruction_execute": (
        "destruction.execute", "lifecycle/destruction/tests/test_destruction.py::"
        "test_execution_removes_the_bytes_keeps_the_tombstone_and_files_the_register"),
    "kjda.lifecycle.destruction.services.destruction_run": (
        "destruction.complete", "lifecycle/destruction/tests/test_destruction.py::"
        "test_execution_removes_the_bytes_keeps_the_tombstone_and_files_the_register"),
    "kjda.lifecycle.destruction.services.destruction_cancel": (
        "destruction.cancel", "lifecycle/destruction/tests/test_destruction.py::"
        "test_a_cancelled_batch_frees_its_records"),
    "kjda.archives.services.record_destroy": (
        "record.destroy", "lifecycle/destruction/tests/test_destruction.py::"
        "test_execution_removes_the_bytes_keeps_the_tombstone_and_files_the_register"),
    "kjda.storage.services.blob_destroy": (
        "blob.destroyed", "lifecycle/destruction/tests/test_destruction.py::"
        "test_execution_removes_the_bytes_keeps_the_tombstone_and_files_the_register"),
    # lifecycle.volumes (issue 17 item 2: 组卷)
    "kjda.lifecycle.volumes.services.volume_rule_set": (
        "volume_rule.set", "lifecycle/volumes/tests/test_volumes.py::"
        "test_a_quarter_rule_with_voucher_words_puts_each_word_in_its_own_volume"),
    "kjda.lifecycle.volumes.services.volume_rule_delete": (
        "volume_rule.delete", "lifecycle/volumes/tests/test_volumes.py::"
        "test_a_quarter_rule_with_voucher_words_puts_each_word_in_its_own_volume"),
    "kjda.lifecycle.volumes.services.volume_numbering_set": (
        "volume_numbering.set", "lifecycle/volumes/tests/test_volumes.py::"
        "test_closing_numbers_volumes_gap_free_in_the_fonds_format"),
    "kjda.lifecycle.volumes.services.volumes_assemble": (
        "volume.assemble", "lifecycle/volumes/tests/test_volumes.py::"
        "test_assembly_by_month_is_the_default_and_running_it_again_moves_nothing"),
    "kjda.lifecycle.volumes.services.volume_item_move": (
        "volume.item_move", "lifecycle/volumes/tests/test_volumes.py::"
        "test_moving_an_item_between_open_volumes_sticks_and_closed_volumes_refuse"),
    "kjda.lifecycle.volumes.services.volume_update": (
        "volume.update", "lifecycle/volumes/tests/test_volumes.py::"
        "test_moving_an_item_between_open_volumes_sticks_and_closed_volumes_refuse"),
    "kjda.lifecycle.volumes.services.volume_close": (
        "volume.registers", "lifecycle/volumes/tests/test_volumes.py::"
        "test_a_closed_volume_has_its_metadata_and_a_pdfa_contents_list_and_notes"),
    # lifecycle.loans (issue 18 item 3: borrowing)
    "kjda.lifecycle.loans.services.loan_request": (
        "loan.request", "lifecycle/loans/tests/test_loans.py::"
        "test_an_approved_loan_shows_exactly_those_records_with_those_rights_until_it_ends"),
    "kjda.lifecycle.loans.services.loan_decide": (
        "loan.decide", "lifecycle/loans/tests/test_loans.py::"
        "test_the_oa_decision_comes_back_by_loan_number_from_an_oa_person"),
    "kjda.lifecycle.loans.services.loans_expire": (
        "loan.expire", "lifecycle/loans/tests/test_loans.py::"
        "test_an_approved_loan_shows_exactly_those_records_with_those_rights_until_it_ends"),
    "kjda.lifecycle.loans.services.loan_return": (
        "loan.return", "lifecycle/loans/tests/test_loans.py::"
        "test_return_ends_the_loan_early_and_only_borrower_or_archivist_may"),
    "kjda.lifecycle.loans.services.loan_oa_failed": (
        "loan.oa_failed", "lifecycle/loans/tests/test_loans_oa.py::"
        "test_an_oa_that_refuses_the_approval_hands_the_request_to_the_archivists"),
    "kjda.lifecycle.loans.services.loan_cancel": (
        "loan.cancel", "lifecycle/loans/tests/test_loans.py::test_a_rejected_or_cancelled_request_lends_nothing"),
    "kjda.lifecycle.loans.services.loan_renew": (
        "loan.renew", "lifecycle/loans/tests/test_loans.py::test_a_renewal_asks_again_and_approved_extends_the_loan"),
    "kjda.lifecycle.loans.services.loans_remind": (
        "loan.remind", "lifecycle/loans/tests/test_loans.py::test_a_renewal_asks_again_and_approved_extends_the_loan"),
    "kjda.lifecycle.loans.services.loan_rule_set": (
        "loan_rule.set", "lifecycle/loans/tests/test_loans.py::"
        "test_the_auto_rule_approves_own_department_records_within_ten_years_only"),
    # lifecycle.formatwatch (issue 19 item 6): 格式监测
    "kjda.lifecycle.formatwatch.services.format_risk_flag": (
        "format.risk", "lifecycle/formatwatch/tests/test_formatwatch.py::"
        "test_flagging_a_format_makes_verified_renditions_with_a_migration_event_and_keeps_the_original"),
    "kjda.lifecycle.formatwatch.services.format_migrate": (
        "format.migrate", "lifecycle/formatwatch/tests/test_formatwatch.py::"
        "test_flagging_a_format_makes_verified_renditions_with_a_migration_event_and_keeps_the_original"),
    "kjda.archives.services.record_preservation_rendition_add": (
        "record.rendition_add", "lifecycle/formatwatch/tests/test_formatwatch.py::"
        "test_a_preservation_rendition_goes_only_to_a_filed_record_and_is_audited"),
    # preservation.backup (issue 19 item 3)
    "kjda.preservation.backup.services.backup_create": (
        "backup.create", "preservation/backup/tests/test_backup.py::"
        "test_restore_drill_brings_back_records_files_and_a_verifying_audit_chain"),
    "kjda.preservation.backup.services.backup_overdue_check": (
        "backup.overdue", "preservation/backup/tests/test_status.py::"
        "test_an_overdue_backup_raises_an_alarm_on_the_dashboard_and_in_the_oa"),
    "kjda.preservation.backup.services.backup_restore": (
        "backup.restore", "preservation/backup/tests/test_backup.py::"
        "test_restore_drill_brings_back_records_files_and_a_verifying_audit_chain"),
    # preservation.monitoring (issue 19 item 5)
    "kjda.preservation.monitoring.services.alarm_raise": (
        "alarm.raise", "preservation/monitoring/tests/test_alarms.py::"
        "test_raising_twice_updates_one_alarm_and_tells_the_oa_once"),
    "kjda.preservation.monitoring.services.alarm_clear": (
        "alarm.clear", "preservation/monitoring/tests/test_alarms.py::"
        "test_raising_twice_updates_one_alarm_and_tells_the_oa_once"),
    "kjda.preservation.monitoring.services.alarm_acknowledge": (
        "alarm.acknowledge", "preservation/monitoring/tests/test_alarms.py::"
        "test_raising_twice_updates_one_alarm_and_tells_the_oa_once"),
    # lifecycle.packages (issue 19 item 4)
    "kjda.lifecycle.packages.services.package_export": (
        "package.exported", "lifecycle/packages/tests/test_transfer_package.py::"
        "test_an_exported_year_imports_into_an_empty_instance_with_identical_records"),
    "kjda.lifecycle.packages.services.package_import": (
        "package.imported", "lifecycle/packages/tests/test_transfer_package.py::"
        "test_an_exported_year_imports_into_an_empty_instance_with_identical_records"),
}

_STEP_OF_INGEST = "a step inside record_ingest's transaction, which audits record.create"
_READ = "read-only"
_STEP_OF_CORRECTION = ("a step inside record_file_add / record_recheck / record_metadata_correct "
                       "(kjda.ingest.services), which audit record.file_add, record.recheck, "
                       "record.correct")
_PURE = "pure helper: no database write"

# service function → why it writes no audit event of its own
EXEMPT: dict[str, str] = {
    "kjda.accounts.services.token_issue":
        "the token row only; token_mint / token_for_credentials audit auth.token around it "
        "(the demo CLI's simulator token is the one direct caller)",
    "kjda.accounts.services.token_authenticate":
        "a read per API call; its last_used_at touch (at most once a minute) is bookkeeping",
    "kjda.accounts.services.user_grant_bootstrap_roles":
        "a step of user_bootstrap, which audits user.create; tests build that state with it",
    "kjda.accounts.sso.services.claim_true": _PURE,
    "kjda.accounts.sso.services.setting_true": _PURE,
    "kjda.accounts.sso.services.sso_match": _READ,
    "kjda.accounts.sso.services.sso_unvouched_claims": _PURE,
    "kjda.accounts.sso.services.sso_provider_choices": _PURE,
    "kjda.accounts.sso.services.safe_next": _PURE,
    "kjda.archives.services.fonds_set_category_code": "a step of fonds_update (fonds.update)",
    "kjda.archives.services.rule_for_category": _READ,
    "kjda.archives.services.retention_resolve": _PURE,
    "kjda.archives.services.record_build": "builds an unsaved Record: " + _STEP_OF_INGEST,
    "kjda.archives.services.record_assign_number": _STEP_OF_INGEST,
    "kjda.archives.services.record_save_new": _STEP_OF_INGEST,
    "kjda.archives.services.record_relation_add": _STEP_OF_INGEST + " (via invoices_save)",
    "kjda.archives.services.relations_resolve":
        "links relations after the OA intake filed the record (record.create); derived data",
    "kjda.audit.services.audit_log": "the audit writer itself",
    "kjda.audit.services.events_after": _READ,
    "kjda.connectors.services.connector_build": _PURE,
    "kjda.connectors.services.connector_for_callbacks": _PURE + " (a per-thread cache)",
    "kjda.connectors.services.connector_public_settings": _PURE,
    "kjda.connectors.services.callback_refusal_audit": "the audit helper of refused callbacks",
    "kjda.connectors.services.callback_receive":
        "an OA callback writes inbox rows, the inbox being the record of what arrived (at "
        "callback rates); refusals and replays are audited, the archiving by record.create",
    "kjda.connectors.services.inbox_event_values": _PURE,
    "kjda.connectors.services.inbox_delivery": _PURE,
    "kjda.connectors.services.callback_connector_keys": _READ,
    "kjda.connectors.services.callbacks_marker": _PURE,
    "kjda.connectors.services.callbacks_mark_busy":
        "touches a marker file for the task workers; no database write",
    "kjda.connectors.services.replay_guard_prune": "housekeeping: expired replay keys",
    "kjda.connectors.services.connector_persist_updates":
        "settings a connector learned itself, through connector_update_settings as the system "
        "(a platform address change is still audited there)",
    "kjda.invoices.services.invoice_extract": _PURE,
    "kjda.invoices.services.invoice_for_incoming": _PURE,
    "kjda.invoices.services.invoice_search_text": _PURE,
    "kjda.invoices.services.invoice_public": _PURE,
    "kjda.invoices.services.invoices_save": _STEP_OF_INGEST,
    "kjda.invoices.services.invoice_check":
        "read-only check of an uploaded invoice (the API logs the access as invoice.check)",
    "kjda.storage.services.get_backend": _PURE,
    "kjda.storage.services.blob_store":
        "write-once content-addressed bytes; the record that references them is audited",
    "kjda.storage.services.blob_put": "the bytes of a file being ingested: " + _STEP_OF_INGEST,
    "kjda.storage.services.blob_rows_add": _STEP_OF_INGEST,
    "kjda.storage.services.blob_open": _READ,
    "kjda.storage.services.blob_read_verified": _READ,
    "kjda.storage.services.blob_verify": _READ,
    "kjda.storage.services.blob_exists": _READ,
    "kjda.storage.services.blob_content_exists": _READ,
    "kjda.storage.services.checkpoint_put":
        "stores a signed audit checkpoint: the audit chain's own machinery",
    "kjda.storage.services.checkpoint_get": _READ,
    "kjda.lifecycle.packages.services.package_verify":
        _READ + ": checks a package's bag, manifest, signatures and digests",
    "kjda.storage.services.checkpoints_list": _READ,
    "kjda.storage.services.storage_sweep_last": _READ,
    "kjda.storage.services.storage_sweep_due": _READ,
    "kjda.storage.services.get_replica": _PURE,
    "kjda.lifecycle.preservation.services.fixity_check":
        "runs kjda.storage.services.fixity_audit (audited storage.fixity_run, "
        "storage.fixity_failed, storage.repaired)",
    "kjda.archives.services.record_check_history_add":
        "a step of fixity_check, inside a blob's audited transaction (storage.fixity_failed)",
    "kjda.storage.services.fixity_counts": _PURE,
    "kjda.storage.services.store_probe": "read-only (a probe's temp file is removed at once)",
    "kjda.preservation.monitoring.services.monitor_check":
        "runs the probes and writes only through alarm_raise / alarm_clear (audited)",
    "kjda.storage.services.fixity_last_run": _READ,
    "kjda.storage.services.replica_copy":
        "copies bytes already recorded (and audited with their record) to the second store; "
        "the outbox row is its bookkeeping",
    "kjda.storage.services.replica_copy_due": "runs replica_backfill (audited) and replica_copy",
    "kjda.storage.services.replica_lag": _READ,
    # pending records put right (issue 17 item 1): row-level steps of the audited services
    "kjda.archives.services.record_lock": _READ + " (SELECT … FOR UPDATE)",
    "kjda.archives.services.record_class_set": _PURE + " (sets attributes; the caller saves)",
    "kjda.archives.services.record_file_row_add": _STEP_OF_CORRECTION,
    "kjda.archives.services.record_files_supersede": _STEP_OF_CORRECTION,
    "kjda.archives.services.record_file_properties_set": _STEP_OF_CORRECTION,
    "kjda.archives.services.record_report_supersede": _STEP_OF_CORRECTION,
    "kjda.archives.services.record_event_add": _STEP_OF_CORRECTION,
    "kjda.archives.services.record_text_set": _STEP_OF_CORRECTION,
    # lifecycle.destruction (issue 17)
    "kjda.storage.services.blob_retention_extend":
        "store bookkeeping (S3 Object Lock) after a record is filed (record.create) or its term "
        "changes (record.change); no database write",
}


def _service_modules() -> list[str]:
    names = []
    for path in sorted(ROOT.rglob("services.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        if "tests" not in rel.parts:
            names.append(".".join(rel.parts))
    return names


def _public_functions() -> set[str]:
    found = set()
    for name in _service_modules():
        module = importlib.import_module(name)
        found |= {f"{name}.{attr}" for attr, value in vars(module).items()
                  if inspect.isfunction(value) and value.__module__ == name
                  and not attr.startswith("_")}
    return found


def test_every_public_service_function_is_audited_or_exempt_with_a_reason():
    found = _public_functions()
    assert not set(AUDITED) & set(EXEMPT)
    missing = sorted(found - set(AUDITED) - set(EXEMPT))
    assert not missing, ("new service functions: add each to AUDITED (with its action and a "
                         f"test asserting the event) or to EXEMPT (with why): {missing}")
    stale = sorted((set(AUDITED) | set(EXEMPT)) - found)
    assert not stale, f"gone from the services modules; drop from the tables: {stale}"
    assert all(reason.strip() for reason in EXEMPT.values())


@pytest.mark.parametrize("qualname", sorted(AUDITED))
def test_each_audited_service_writes_its_action_and_a_test_asserts_it(qualname):
    action, test_ref = AUDITED[qualname]
    module_name, _, func_name = qualname.rpartition(".")
    module_source = inspect.getsource(importlib.import_module(module_name))
    assert f'"{action}"' in module_source, f"{qualname} does not write {action}"
    test_path, _, test_name = test_ref.partition("::")
    source = (ROOT / test_path).read_text()
    tests = {node.name: ast.get_source_segment(source, node)
             for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)}
    assert test_name in tests, f"{test_ref} not found"
    body = tests[test_name] or ""
    assert "AuditEvent" in body and f'"{action}"' in body, \
        f"{test_ref} does not assert the {action} audit row"
