from django import forms
from django.utils.translation import gettext_lazy as _


class ResidentSearchForm(forms.Form):
    """The clerk's search: any combination; the name may be typed in kana, kanji or the alphabet."""

    atena_no = forms.CharField(label=_("宛名番号"), max_length=20, required=False)
    name = forms.CharField(label=_("氏名 (カナ・漢字)"), max_length=100, required=False)
    birth = forms.CharField(
        label=_("生年月日"),
        max_length=20,
        required=False,
        help_text=_("例: S55.1.1、昭和55年1月1日、3550101、1980-01-01"),
    )
    address = forms.CharField(label=_("住所の一部"), max_length=100, required=False)
