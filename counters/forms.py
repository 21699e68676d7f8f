from django import forms
from django.utils.translation import gettext_lazy as _

from intake.selectors import SearchKind


class ResidentSearchForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("検索方法"),
        choices=[(SearchKind.KANA.value, _("カナ氏名")), (SearchKind.ATENA_NO.value, _("宛名番号"))],
        initial=SearchKind.KANA.value,
    )
    q = forms.CharField(label=_("検索語"), max_length=100)
