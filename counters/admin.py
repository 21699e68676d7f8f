from django.contrib import admin

from .models import Counter, CounterSession


@admin.register(Counter)
class CounterAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "department", "terminal")


@admin.register(CounterSession)
class CounterSessionAdmin(admin.ModelAdmin):
    list_display = ("reception_no", "counter", "clerk", "state", "opened_at", "finished_at")
    list_filter = ("state", "counter")
    readonly_fields = (
        "reception_no",
        "counter",
        "clerk",
        "state",
        "atena_no",
        "form_code",
        "form_version",
        "print_job",
        "opened_at",
        "identified_at",
        "finished_at",
    )
