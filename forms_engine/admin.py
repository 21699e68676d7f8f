from django.contrib import admin

from .models import FormTemplate, FormVersion


class FormVersionInline(admin.TabularInline):
    model = FormVersion
    fields = ("number", "status", "effective_from")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(FormTemplate)
class FormTemplateAdmin(admin.ModelAdmin):
    list_display = ("code", "name")
    inlines = [FormVersionInline]
