from django.apps import AppConfig


class BackupConfig(AppConfig):
    name = "kjda.preservation.backup"
    label = "backup"
    verbose_name = "备份 / Backup"
