from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from . import services
from .forms import StaffCardAdminForm
from .models import StaffCard, User


class StaffCardInline(admin.TabularInline):
    """The user's staff cards. A card's ID is typed when it is added (a reader in keyboard mode types it too) and
    kept only as its digest; registration, changes and removal are audited."""

    model = StaffCard
    form = StaffCardAdminForm
    fields = ("card_id", "label", "active", "registered_at")
    readonly_fields = ("registered_at",)
    extra = 0
    verbose_name = _("職員証")
    verbose_name_plural = _("職員証（カードログイン）")


@admin.register(User)
class StaffUserAdmin(UserAdmin):
    fieldsets = (
        *(UserAdmin.fieldsets or ()),
        ("職員", {"fields": ("staff_no", "display_name", "department")}),
        (_("カードログイン"), {"fields": ("card_pin_state", "card_pin_failures", "card_locked_until")}),
    )
    readonly_fields = ("card_pin_state", "card_pin_failures", "card_locked_until")
    list_display = ("username", "display_name", "staff_no", "department", "is_active")
    inlines = (StaffCardInline,)
    actions = ("card_lock_clear",)

    @admin.display(description=_("カードPIN"))
    def card_pin_state(self, obj: User) -> str:
        return str(
            _("設定済み") if obj.card_pin_hash else _("未設定（本人が「カードのPIN」画面で設定します）")
        )

    @admin.action(description=_("カードログインのロックを解除"))
    def card_lock_clear(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in queryset:
            services.card_lock_clear(user=user, actor=request.user)
        self.message_user(request, _("ロックを解除しました。"), messages.SUCCESS)

    def save_formset(
        self, request: HttpRequest, form: ModelForm, formset: BaseInlineFormSet, change: bool
    ) -> Any:
        """Cards go through the services, which audit them (never the ID)."""
        if formset.model is not StaffCard:
            return super().save_formset(request, form, formset, change)
        # What the admin's history entry (construct_change_message) reads after a formset's save().
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for deleted in formset.deleted_forms:
            if deleted.instance.pk is not None:
                services.staff_card_delete(card=deleted.instance, actor=request.user)
                formset.deleted_objects.append(deleted.instance)
        for card_form in formset.forms:
            if card_form in formset.deleted_forms or not card_form.has_changed():
                continue
            if card_form.instance.pk is None:
                card = services.staff_card_register(
                    user=form.instance,
                    card_id=card_form.cleaned_data["card_id"],
                    label=card_form.cleaned_data["label"],
                    active=card_form.cleaned_data["active"],
                    actor=request.user,
                )
                formset.new_objects.append(card)
            else:
                card = services.staff_card_update(card=card_form.save(commit=False), actor=request.user)
                formset.changed_objects.append((card, card_form.changed_data))
        return None
