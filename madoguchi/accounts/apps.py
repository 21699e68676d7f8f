from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "madoguchi.accounts"
    label = "accounts"
    verbose_name = "職員・権限"

    def ready(self) -> None:
        from devices.events import event_handler_register

        from . import services

        # The staff reader of a counter PC: a tap opens a card login on that terminal's login page.
        event_handler_register("staff.tapped", services.staff_tapped_event)
