from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "madoguchi.audit"
    label = "audit"
    verbose_name = "監査ログ"
