"""Forms of staff accounts: the card PIN page, binding a browser to its terminal, a card in the admin."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from devices.models import Terminal

from . import services
from .models import StaffCard, User


class CardPinForm(forms.Form):
    """Set or change one's own card PIN; the current password proves it is the user at the keyboard."""

    password = forms.CharField(
        label=_("現在のパスワード"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    pin = forms.CharField(
        label=_("新しいPIN（4〜8桁の数字）"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password", "inputmode": "numeric"}),
    )
    pin_again = forms.CharField(
        label=_("新しいPIN（確認）"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password", "inputmode": "numeric"}),
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self) -> str:
        password: str = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError(_("現在のパスワードが正しくありません。"))
        return password

    def clean_pin(self) -> str:
        pin: str = self.cleaned_data["pin"]
        if not services.card_pin_valid(pin):
            raise forms.ValidationError(_("PINは4〜8桁の数字で入力してください。"))
        return pin

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if "pin" in cleaned and cleaned.get("pin_again") != cleaned["pin"]:
            self.add_error("pin_again", _("確認のPINが一致しません。"))
        return cleaned


class TerminalBindForm(forms.Form):
    terminal = forms.ModelChoiceField(
        label=_("この端末"), queryset=Terminal.objects.order_by("code"), empty_label=None
    )


class StaffCardAdminForm(forms.ModelForm):
    """A card in the user's admin page. The ID is typed (or typed by a reader in keyboard mode) when the card is
    added and never shown again: only its digest is kept."""

    card_id = forms.CharField(
        label=_("カードID"),
        required=False,
        strip=True,
        help_text=_("16進数（例: 04A23B1C5D6E80）。登録後は表示されません。"),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    class Meta:
        model = StaffCard
        fields = ("card_id", "label", "active")

    def clean_card_id(self) -> str:
        raw: str = self.cleaned_data.get("card_id") or ""
        if self.instance.pk is not None:
            if raw:
                raise forms.ValidationError(
                    _("登録済みのカードIDは変更できません。新しい行で登録してください。")
                )
            return ""
        if not raw:
            raise forms.ValidationError(_("カードIDを入力してください。"))
        try:
            card_id = services.card_id_normalise(raw)
        except ValueError as exc:
            raise forms.ValidationError(_("カードIDは16進数で8〜64桁（偶数桁）で入力してください。")) from exc
        if StaffCard.objects.filter(card_id_digest=services.card_id_digest(card_id)).exists():
            raise forms.ValidationError(_("このカードは既に登録されています。"))
        return card_id
