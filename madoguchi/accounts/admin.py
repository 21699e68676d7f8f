from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, Permission
from django.db.models import Count, Prefetch, QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from . import services
from .forms import StaffCardAdminForm
from .models import StaffCard, User
from .roles import PERMISSIONS


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


def _capabilities() -> QuerySet[Permission]:
    return Permission.objects.filter(
        content_type__app_label="accounts", codename__in=[codename for codename, _label in PERMISSIONS]
    ).order_by("pk")


class RoleForm(forms.ModelForm):
    """A group as the city sees it: a role, its capabilities as checkboxes; the admin site's model permissions
    (who may edit which table in this admin) apart."""

    capabilities = forms.ModelMultipleChoiceField(
        label=_("機能"),
        queryset=Permission.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("この役割の職員ができること。画面・API・バックグラウンド処理のすべてで確認されます。"),
    )

    class Meta:
        model = Group
        fields = ("name", "capabilities", "permissions")
        labels = {"name": _("役割名"), "permissions": _("管理サイトの権限")}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        capabilities = _capabilities()
        field = self.fields["capabilities"]
        assert isinstance(field, forms.ModelMultipleChoiceField)
        field.queryset = capabilities
        field.label_from_instance = lambda permission: permission.name  # type: ignore[method-assign,assignment]
        permissions = self.fields["permissions"]
        assert isinstance(permissions, forms.ModelMultipleChoiceField)
        assert permissions.queryset is not None
        permissions.queryset = permissions.queryset.exclude(pk__in=capabilities)
        if self.instance.pk:
            field.initial = list(self.instance.permissions.filter(pk__in=capabilities))


admin.site.unregister(Group)


@admin.register(Group)
class RoleAdmin(GroupAdmin):
    """グループ = 役割. The five built-in ones carry one capability each; the city adds its own."""

    form = RoleForm
    list_display = ("name", "capability_names", "members")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Group]:
        capabilities = Prefetch("permissions", queryset=_capabilities(), to_attr="capabilities")
        return (
            super()
            .get_queryset(request)
            .annotate(member_count=Count("user", distinct=True))
            .prefetch_related(capabilities)
        )

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """The admin permissions are saved as the form lists them (capabilities left out), then the capabilities
        checked are added."""
        super().save_related(request, form, formsets, change)
        form.instance.permissions.add(*form.cleaned_data["capabilities"])

    @admin.display(description=_("機能"))
    def capability_names(self, obj: Group) -> str:
        return "、".join(permission.name for permission in getattr(obj, "capabilities", ()))

    @admin.display(description=_("人数"), ordering="member_count")
    def members(self, obj: Group) -> int:
        return int(getattr(obj, "member_count", 0))
