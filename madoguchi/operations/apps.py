from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "madoguchi.operations"
    label = "operations"
    verbose_name = "運用（バックアップ・保存期間）"
