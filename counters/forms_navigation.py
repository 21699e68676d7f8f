"""Django forms of the 手続ナビ editor: they read what a form admin typed; ``counters.navigation``'s services check
it again and decide."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _

from forms_engine.forms import LANGUAGE_NAMES
from forms_engine.schema import TRANSLATION_LANGUAGES

from .models import Question, QuestionKind
from .navigation import CODE_PATTERN, NO, YES, condition_check

FieldGroups = list[tuple[str, list[forms.BoundField]]]

_code_validator = RegexValidator(
    CODE_PATTERN, _("半角英小文字で始め、英小文字・数字・「_」で入力してください（32文字まで）")
)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


class _CodeMixin(forms.Form):
    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if editing:
            # The code names the row everywhere (answers, audit records, sessions); it does not change.
            self.fields["code"].disabled = True
            self.fields["code"].required = False


def _multiple(field: forms.Field, choices: Sequence[tuple[str, Any]]) -> None:
    assert isinstance(field, forms.ChoiceField)
    field.choices = list(choices)


class LifeEventForm(_CodeMixin):
    code = forms.CharField(label=_("コード"), max_length=32, validators=[_code_validator])
    name = forms.CharField(label=_("名称"), max_length=100)
    order = forms.IntegerField(label=_("表示順"), min_value=0, initial=0)
    active = forms.BooleanField(label=_("使用中（聞き取りで選べる）"), required=False, initial=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for language in TRANSLATION_LANGUAGES:
            self.fields[f"name_{language}"] = forms.CharField(
                label=LANGUAGE_NAMES.get(language, language), required=False, max_length=100
            )

    def field_groups(self) -> FieldGroups:
        return [
            ("", [self[name] for name in ("code", "name", "order", "active")]),
            (
                str(_("翻訳（住民向けタブレット）")),
                [self[f"name_{language}"] for language in TRANSLATION_LANGUAGES],
            ),
        ]

    def translations(self) -> dict[str, str]:
        return {language: self.cleaned_data[f"name_{language}"] for language in TRANSLATION_LANGUAGES}

    @staticmethod
    def initial_from(event: Any) -> dict[str, Any]:
        initial = {"code": event.code, "name": event.name, "order": event.order, "active": event.active}
        for language, name in (event.translations or {}).items():
            initial[f"name_{language}"] = name
        return initial


class QuestionForm(_CodeMixin):
    code = forms.CharField(label=_("コード"), max_length=32, validators=[_code_validator])
    text = forms.CharField(label=_("質問"), max_length=200)
    help_text = forms.CharField(label=_("説明"), max_length=300, required=False)
    kind = forms.ChoiceField(label=_("回答の種類"), choices=QuestionKind.choices)
    choices = forms.CharField(
        label=_("選択肢（選択のときだけ。1行に1つ「値=表示名」）"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "class": "mono"}),
        help_text=_("例: juminhyo=住民票の写し。条件では answers.<コード>|eq('juminhyo') と書きます。"),
    )
    life_events = forms.MultipleChoiceField(
        label=_("聞くライフイベント"), required=False, widget=forms.CheckboxSelectMultiple
    )
    order = forms.IntegerField(label=_("表示順"), min_value=0, initial=0)

    def __init__(self, *args: Any, event_choices: Sequence[tuple[str, str]] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _multiple(self.fields["life_events"], event_choices)

    def field_groups(self) -> FieldGroups:
        return [("", list(self))]

    def clean_choices(self) -> list[dict[str, str]]:
        parsed = []
        for line in _lines(self.cleaned_data["choices"]):
            value, _sep, label = line.partition("=")
            parsed.append({"value": value.strip(), "label": label.strip()})
        return parsed

    @staticmethod
    def initial_from(question: Question) -> dict[str, Any]:
        return {
            "code": question.code,
            "text": question.text,
            "help_text": question.help,
            "kind": question.kind,
            "choices": "\n".join(
                f"{c.get('value', '')}={c.get('label', '')}" for c in question.choices or ()
            ),
            "life_events": [event.code for event in question.life_events.all()],
            "order": question.order,
        }


class ProcedureForm(_CodeMixin):
    code = forms.CharField(label=_("コード"), max_length=32, validators=[_code_validator])
    name = forms.CharField(label=_("名称"), max_length=100)
    department = forms.CharField(label=_("担当課"), max_length=100, required=False)
    counter_group = forms.ChoiceField(label=_("窓口グループ"), required=False)
    form_codes = forms.MultipleChoiceField(
        label=_("様式"), required=False, widget=forms.CheckboxSelectMultiple
    )
    bring = forms.CharField(
        label=_("持ち物（1行に1つ）"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    note = forms.CharField(label=_("案内"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    order = forms.IntegerField(label=_("表示順"), min_value=0, initial=0)
    active = forms.BooleanField(label=_("使用中"), required=False, initial=True)

    def __init__(
        self,
        *args: Any,
        group_choices: Sequence[tuple[str, str]] = (),
        form_choices: Sequence[tuple[str, str]] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        _multiple(self.fields["counter_group"], [("", _("（なし）")), *group_choices])
        _multiple(self.fields["form_codes"], form_choices)

    def field_groups(self) -> FieldGroups:
        return [("", list(self))]

    @staticmethod
    def initial_from(procedure: Any) -> dict[str, Any]:
        return {
            "code": procedure.code,
            "name": procedure.name,
            "department": procedure.department,
            "counter_group": procedure.counter_group.code if procedure.counter_group else "",
            "form_codes": list(procedure.forms or ()),
            "bring": procedure.bring,
            "note": procedure.note,
            "order": procedure.order,
            "active": procedure.active,
        }


class RuleForm(forms.Form):
    procedure = forms.ChoiceField(label=_("手続"))
    life_events = forms.MultipleChoiceField(
        label=_("ライフイベント（どれか一つ）"), widget=forms.CheckboxSelectMultiple
    )
    conditions = forms.CharField(
        label=_("条件（1行に1つ。すべて満たすとき手続が要る。空なら常に）"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "class": "mono", "list": "condition-suggestions"}),
    )
    description = forms.CharField(
        label=_("説明（「…のため」として案内に出ます）"), max_length=200, required=False
    )

    def __init__(
        self,
        *args: Any,
        procedure_choices: Sequence[tuple[str, str]] = (),
        event_choices: Sequence[tuple[str, str]] = (),
        editing: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        _multiple(self.fields["procedure"], procedure_choices)
        _multiple(self.fields["life_events"], event_choices)
        if editing:
            self.fields["procedure"].disabled = True

    def field_groups(self) -> FieldGroups:
        return [("", list(self))]

    def clean_conditions(self) -> list[str]:
        """Every condition checked as the service will; each problem is shown at the field."""
        conditions = _lines(self.cleaned_data["conditions"])
        problems = [problem for problem in map(condition_check, conditions) if problem]
        if problems:
            raise forms.ValidationError(problems)
        return conditions

    @staticmethod
    def initial_from(rule: Any) -> dict[str, Any]:
        return {
            "procedure": rule.procedure.code,
            "life_events": [event.code for event in rule.life_events.all()],
            "conditions": "\n".join(rule.conditions or ()),
            "description": rule.description,
        }


SOURCE_SAMPLE, SOURCE_RESIDENT = "sample", "resident"


class TrialForm(forms.Form):
    """試算: life events, answers, and the household to try them on (the sample, or a resident by 宛名番号)."""

    life_events = forms.MultipleChoiceField(label=_("ライフイベント"), widget=forms.CheckboxSelectMultiple)
    source = forms.ChoiceField(
        label=_("世帯"),
        widget=forms.RadioSelect,
        initial=SOURCE_SAMPLE,
        choices=[
            (SOURCE_SAMPLE, _("見本の世帯（4人: 子ども1人、75歳以上1人）")),
            (SOURCE_RESIDENT, _("宛名番号で住民を指定（閲覧として記録されます）")),
        ],
    )
    atena_no = forms.CharField(label=_("宛名番号"), max_length=20, required=False)

    def __init__(
        self,
        *args: Any,
        event_choices: Sequence[tuple[str, str]] = (),
        questions: Sequence[Question] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        _multiple(self.fields["life_events"], event_choices)
        self.questions = list(questions)
        for question in self.questions:
            self.fields[f"answer_{question.code}"] = _answer_field(question)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("source") == SOURCE_RESIDENT and not (data.get("atena_no") or "").strip():
            self.add_error("atena_no", _("宛名番号を入力してください。"))
        return data

    def field_groups(self) -> FieldGroups:
        return [
            ("", [self["life_events"], self["source"], self["atena_no"]]),
            (str(_("聞き取りの回答")), [self[f"answer_{question.code}"] for question in self.questions]),
        ]

    def answers(self) -> dict[str, Any]:
        """The answers given, as ``answers.<code>`` reads them; unanswered questions are left out."""
        answers = {}
        for question in self.questions:
            value = self.cleaned_data.get(f"answer_{question.code}")
            if value not in (None, ""):
                answers[question.code] = value
        return answers


def _answer_field(question: Question) -> forms.Field:
    label = f"{question.text}（answers.{question.code}）"
    common: dict[str, Any] = {"label": label, "required": False, "help_text": question.help}
    if question.kind == QuestionKind.YESNO:
        return forms.ChoiceField(choices=[("", "—"), (YES, _("はい")), (NO, _("いいえ"))], **common)
    if question.kind == QuestionKind.CHOICE:
        choices = [(c.get("value", ""), c.get("label", "")) for c in question.choices or ()]
        return forms.ChoiceField(choices=[("", "—"), *choices], **common)
    if question.kind == QuestionKind.NUMBER:
        return forms.IntegerField(min_value=0, **common)
    return forms.CharField(max_length=200, **common)
