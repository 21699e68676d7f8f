from django.apps import AppConfig


class FormsEngineConfig(AppConfig):
    name = "forms_engine"
    verbose_name = "申請書"
