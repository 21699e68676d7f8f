from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from . import services
from .models import Counter, CounterGroup, CounterSession, SessionEvent, TabletPairing, Ticket


@admin.register(CounterGroup)
class CounterGroupAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "ticket_prefix", "ticket_terminal")


@admin.register(Counter)
class CounterAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "department", "location", "group", "terminal")
    list_filter = ("group", "department")
    exclude = ("pairing_code_hash", "pairing_code_expires_at", "pairing_failures")


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = ("day", "group", "number", "status", "issued_at", "called_at", "called_to")
    list_filter = ("day", "group", "status")
    readonly_fields = ("group", "day", "number", "issued_at", "called_at", "called_to")


@admin.register(TabletPairing)
class TabletPairingAdmin(admin.ModelAdmin):
    list_display = ("pk", "counter", "label", "paired_at", "last_seen_at", "revoked_at")
    list_filter = ("counter", "revoked_at")
    readonly_fields = ("counter", "token_hash", "paired_at", "paired_by", "revoked_at", "last_seen_at")
    actions = ("revoke",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a tablet pairs itself with the code the desk shows

    @admin.action(description=_("選択したタブレットのペアリングを解除"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[TabletPairing]) -> None:
        for pairing in queryset.filter(revoked_at=None).select_related("counter"):
            services.tablet_revoke(pairing=pairing, actor=request.user)


class SessionEventInline(admin.TabularInline):
    model = SessionEvent
    extra = 0
    can_delete = False
    readonly_fields = ("at", "kind", "state", "counter", "actor", "detail")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(CounterSession)
class CounterSessionAdmin(admin.ModelAdmin):
    """Read-only: a session changes only through the counter screens, which time-stamp and audit every step.
    Names, addresses and card data are not shown here."""

    list_display = ("reception_no", "counter", "clerk", "state", "progress", "opened_at", "finished_at")
    list_filter = ("state", "progress", "counter")
    fields = (
        "reception_no",
        "counter",
        "clerk",
        "state",
        "progress",
        "life_events",
        "print_job",
        "opened_at",
        "identified_at",
        "confirmed_at",
        "finished_at",
        "linked_at",
        "return_reason",
    )
    readonly_fields = fields
    inlines = (SessionEventInline,)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
