from django.apps import AppConfig


class CountersConfig(AppConfig):
    name = "counters"
    verbose_name = "窓口"

    def ready(self) -> None:
        from devices.events import event_handler_register, print_job_changed_subscribe
        from forms_engine.registry import PreviewSource, preview_source_register
        from integrations.hooks import (
            export_requeued_subscribe,
            export_result_subscribe,
            export_written_subscribe,
        )

        from . import services
        from .selectors import resident_preview_context
        from .stats import reception_requeued, reception_result, receptions_linked

        preview_source_register(
            PreviewSource(name="resident", label="住民", ref_label="宛名番号", load=resident_preview_context)
        )
        event_handler_register("card.read", services.card_event)
        event_handler_register("card.failed", services.card_event)
        event_handler_register("card.probed", services.card_probe_event)
        event_handler_register("qr.scanned", services.qr_event)
        event_handler_register("qr.failed", services.qr_event)
        print_job_changed_subscribe(services.print_job_changed)
        # A written outbound batch makes its receptions 連携済 (integrations does not import counters).
        export_written_subscribe(receptions_linked)
        # The core system's answer: OK → 完了, NG → 差戻し; a corrected, re-queued reception is 出力済 again.
        export_result_subscribe(reception_result)
        export_requeued_subscribe(reception_requeued)
