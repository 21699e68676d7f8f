from django.apps import AppConfig


class CountersConfig(AppConfig):
    name = "counters"
    verbose_name = "窓口"

    def ready(self) -> None:
        from forms_engine.registry import PreviewSource, preview_source_register

        from .selectors import resident_preview_context

        preview_source_register(
            PreviewSource(name="resident", label="住民", ref_label="宛名番号", load=resident_preview_context)
        )
