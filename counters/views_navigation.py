"""The 手続ナビ editor (form admins): life events, questions, procedures and rules, and the 試算 panel that
shows which procedures a visit would get and because of which rule.

Views only read the request, call ``counters.navigation`` and render; every change is audited by the services.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from forms_engine.bindings import CARD_KEYS, PERSON_KEYS, SESSION_KEYS, filter_age
from forms_engine.selectors import form_sample_context
from madoguchi.accounts.roles import Role, role_required

from . import navigation
from .forms_navigation import (
    SOURCE_RESIDENT,
    LifeEventForm,
    ProcedureForm,
    QuestionForm,
    RuleForm,
    TrialForm,
)
from .models import LifeEvent, Procedure, ProcedureRule, Question

form_admin_required = role_required(Role.FORM_ADMIN)
View = Callable[..., HttpResponse]


def _event_choices() -> list[tuple[str, str]]:
    return [(event.code, event.name) for event in LifeEvent.objects.order_by("order", "code")]


def _editor(view: View) -> View:
    """Form admins only: others are sent to the login page."""
    return login_required(form_admin_required(view))


@require_GET
@_editor
def index(request: HttpRequest) -> HttpResponse:
    form_names = dict(navigation.form_choices())
    return render(
        request,
        "counters/navigation/index.html",
        {
            "life_events": navigation.life_events_all(),
            "procedures": [
                (procedure, [(code, form_names.get(code, "")) for code in procedure.forms or ()])
                for procedure in navigation.procedures_all()
            ],
            "questions": navigation.questions_all(),
            "counter_groups": navigation.counter_groups_all(),
            "crumb": "index",
        },
    )


def _edit_page(
    request: HttpRequest,
    *,
    form: Form,
    heading: str,
    delete_url: str = "",
    condition_help: bool = False,
    rules: Iterable[ProcedureRule] | None = None,
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "counters/navigation/edit.html",
        {
            "form": form,
            "heading": heading,
            "delete_url": delete_url,
            "condition_help": _condition_help() if condition_help else None,
            "rules": rules,
        },
        status=status,
    )


def _refused(form: Form, exc: navigation.NavigationInvalid) -> None:
    form.add_error(None, str(exc))


# --- life events -----------------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@_editor
def event_create(request: HttpRequest) -> HttpResponse:
    form = LifeEventForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            event = navigation.life_event_create(
                code=data["code"],
                name=data["name"],
                order=data["order"],
                active=data["active"],
                translations=form.translations(),
                actor=request.user,
            )
        except navigation.NavigationInvalid as exc:
            _refused(form, exc)
        else:
            messages.success(request, _("ライフイベント「%(name)s」を作りました。") % {"name": event.name})
            return redirect("navigation:index")
    status = 400 if request.method == "POST" else 200
    return _edit_page(request, form=form, heading=_("ライフイベントを追加"), status=status)


@require_http_methods(["GET", "POST"])
@_editor
def event_edit(request: HttpRequest, code: str) -> HttpResponse:
    event = get_object_or_404(LifeEvent, code=code)
    if request.method == "POST":
        form = LifeEventForm(request.POST, initial=LifeEventForm.initial_from(event), editing=True)
        if form.is_valid():
            data = form.cleaned_data
            try:
                navigation.life_event_update(
                    event=event,
                    name=data["name"],
                    order=data["order"],
                    active=data["active"],
                    translations=form.translations(),
                    actor=request.user,
                )
            except navigation.NavigationInvalid as exc:
                _refused(form, exc)
            else:
                messages.success(
                    request, _("ライフイベント「%(name)s」を保存しました。") % {"name": event.name}
                )
                return redirect("navigation:index")
    else:
        form = LifeEventForm(initial=LifeEventForm.initial_from(event), editing=True)
    return _edit_page(
        request,
        form=form,
        heading=_("ライフイベント「%(name)s」") % {"name": event.name},
        delete_url=reverse("navigation:event_delete", args=[event.code]),
        status=400 if request.method == "POST" else 200,
    )


@require_POST
@_editor
def event_delete(request: HttpRequest, code: str) -> HttpResponse:
    event = get_object_or_404(LifeEvent, code=code)
    navigation.life_event_delete(event=event, actor=request.user)
    messages.success(request, _("ライフイベント「%(name)s」を削除しました。") % {"name": event.name})
    return redirect("navigation:index")


# --- questions -------------------------------------------------------------------------------------------------


def _question_values(form: QuestionForm) -> dict[str, Any]:
    data = form.cleaned_data
    return {
        "text": data["text"],
        "help_text": data["help_text"],
        "kind": data["kind"],
        "choices": data["choices"],
        "life_events": data["life_events"],
        "order": data["order"],
    }


@require_http_methods(["GET", "POST"])
@_editor
def question_create(request: HttpRequest) -> HttpResponse:
    form = QuestionForm(request.POST or None, event_choices=_event_choices())
    if request.method == "POST" and form.is_valid():
        try:
            question = navigation.question_create(
                code=form.cleaned_data["code"], **_question_values(form), actor=request.user
            )
        except navigation.NavigationInvalid as exc:
            _refused(form, exc)
        else:
            messages.success(request, _("質問「%(text)s」を作りました。") % {"text": question.text})
            return redirect("navigation:index")
    status = 400 if request.method == "POST" else 200
    return _edit_page(request, form=form, heading=_("聞き取り項目を追加"), status=status)


@require_http_methods(["GET", "POST"])
@_editor
def question_edit(request: HttpRequest, code: str) -> HttpResponse:
    question = get_object_or_404(Question, code=code)
    initial = QuestionForm.initial_from(question)
    if request.method == "POST":
        form = QuestionForm(request.POST, initial=initial, event_choices=_event_choices(), editing=True)
        if form.is_valid():
            try:
                navigation.question_update(question=question, **_question_values(form), actor=request.user)
            except navigation.NavigationInvalid as exc:
                _refused(form, exc)
            else:
                messages.success(request, _("質問「%(text)s」を保存しました。") % {"text": question.text})
                return redirect("navigation:index")
    else:
        form = QuestionForm(initial=initial, event_choices=_event_choices(), editing=True)
    return _edit_page(
        request,
        form=form,
        heading=_("聞き取り項目「%(code)s」") % {"code": question.code},
        delete_url=reverse("navigation:question_delete", args=[question.code]),
        status=400 if request.method == "POST" else 200,
    )


@require_POST
@_editor
def question_delete(request: HttpRequest, code: str) -> HttpResponse:
    question = get_object_or_404(Question, code=code)
    navigation.question_delete(question=question, actor=request.user)
    messages.success(request, _("質問「%(text)s」を削除しました。") % {"text": question.text})
    return redirect("navigation:index")


# --- procedures ------------------------------------------------------------------------------------------------


def _procedure_form(data: Any = None, **kwargs: Any) -> ProcedureForm:
    return ProcedureForm(
        data,
        group_choices=[(group.code, group.name) for group in navigation.counter_groups_all()],
        form_choices=[(code, f"{name}（{code}）") for code, name in navigation.form_choices()],
        **kwargs,
    )


def _procedure_values(form: ProcedureForm) -> dict[str, Any]:
    data = form.cleaned_data
    return {
        "name": data["name"],
        "department": data["department"],
        "counter_group": data["counter_group"],
        "bring": data["bring"],
        "note": data["note"],
        "forms": data["form_codes"],
        "order": data["order"],
        "active": data["active"],
    }


@require_http_methods(["GET", "POST"])
@_editor
def procedure_create(request: HttpRequest) -> HttpResponse:
    form = _procedure_form(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            procedure = navigation.procedure_create(
                code=form.cleaned_data["code"], **_procedure_values(form), actor=request.user
            )
        except navigation.NavigationInvalid as exc:
            _refused(form, exc)
        else:
            messages.success(request, _("手続「%(name)s」を作りました。") % {"name": procedure.name})
            return redirect("navigation:index")
    status = 400 if request.method == "POST" else 200
    return _edit_page(request, form=form, heading=_("手続を追加"), status=status)


@require_http_methods(["GET", "POST"])
@_editor
def procedure_edit(request: HttpRequest, code: str) -> HttpResponse:
    procedure = get_object_or_404(Procedure.objects.select_related("counter_group"), code=code)
    initial = ProcedureForm.initial_from(procedure)
    if request.method == "POST":
        form = _procedure_form(request.POST, initial=initial, editing=True)
        if form.is_valid():
            try:
                navigation.procedure_update(
                    procedure=procedure, **_procedure_values(form), actor=request.user
                )
            except navigation.NavigationInvalid as exc:
                _refused(form, exc)
            else:
                messages.success(request, _("手続「%(name)s」を保存しました。") % {"name": procedure.name})
                return redirect("navigation:index")
    else:
        form = _procedure_form(initial=initial, editing=True)
    return _edit_page(
        request,
        form=form,
        heading=_("手続「%(name)s」") % {"name": procedure.name},
        delete_url=reverse("navigation:procedure_delete", args=[procedure.code]),
        rules=procedure.rules.order_by("id").prefetch_related("life_events"),
        status=400 if request.method == "POST" else 200,
    )


@require_POST
@_editor
def procedure_delete(request: HttpRequest, code: str) -> HttpResponse:
    procedure = get_object_or_404(Procedure, code=code)
    navigation.procedure_delete(procedure=procedure, actor=request.user)
    messages.success(request, _("手続「%(name)s」とその規則を削除しました。") % {"name": procedure.name})
    return redirect("navigation:index")


# --- rules -----------------------------------------------------------------------------------------------------


def _rule_form(data: Any = None, **kwargs: Any) -> RuleForm:
    return RuleForm(
        data,
        procedure_choices=[(p.code, p.name) for p in Procedure.objects.order_by("order", "code")],
        event_choices=_event_choices(),
        **kwargs,
    )


@require_http_methods(["GET", "POST"])
@_editor
def rule_create(request: HttpRequest) -> HttpResponse:
    form = _rule_form(request.POST or None, initial={"procedure": request.GET.get("procedure", "")})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        procedure = get_object_or_404(Procedure, code=data["procedure"])
        try:
            navigation.rule_create(
                procedure=procedure,
                life_events=data["life_events"],
                conditions=data["conditions"],
                description=data["description"],
                actor=request.user,
            )
        except navigation.NavigationInvalid as exc:
            _refused(form, exc)
        else:
            messages.success(request, _("手続「%(name)s」に規則を追加しました。") % {"name": procedure.name})
            return redirect("navigation:index")
    status = 400 if request.method == "POST" else 200
    return _edit_page(request, form=form, heading=_("規則を追加"), condition_help=True, status=status)


@require_http_methods(["GET", "POST"])
@_editor
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(ProcedureRule.objects.select_related("procedure"), pk=pk)
    initial = RuleForm.initial_from(rule)
    if request.method == "POST":
        form = _rule_form(request.POST, initial=initial, editing=True)
        if form.is_valid():
            data = form.cleaned_data
            try:
                navigation.rule_update(
                    rule=rule,
                    life_events=data["life_events"],
                    conditions=data["conditions"],
                    description=data["description"],
                    actor=request.user,
                )
            except navigation.NavigationInvalid as exc:
                _refused(form, exc)
            else:
                messages.success(request, _("規則を保存しました。"))
                return redirect("navigation:index")
    else:
        form = _rule_form(initial=initial, editing=True)
    return _edit_page(
        request,
        form=form,
        heading=_("手続「%(name)s」の規則") % {"name": rule.procedure.name},
        delete_url=reverse("navigation:rule_delete", args=[rule.pk]),
        condition_help=True,
        status=400 if request.method == "POST" else 200,
    )


@require_POST
@_editor
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(ProcedureRule.objects.select_related("procedure"), pk=pk)
    navigation.rule_delete(rule=rule, actor=request.user)
    messages.success(request, _("手続「%(name)s」の規則を削除しました。") % {"name": rule.procedure.name})
    return redirect("navigation:index")


def _condition_help() -> dict[str, Any]:
    """What a condition can read, the filters that help, and examples, shown next to the conditions input."""
    persons = ", ".join(sorted(PERSON_KEYS))
    roots = [
        ("resident", _("本人"), f"resident.{{{persons}}}"),
        ("household", _("世帯の人の一覧（本人を含む）"), "household, household.0.birth_date"),
        ("answers", _("聞き取りの回答（質問のコード）"), "answers.<code>"),
        ("card", _("読み取ったカード"), f"card.{{{', '.join(sorted(CARD_KEYS))}}}"),
        ("session", _("受付"), f"session.{{{', '.join(sorted(SESSION_KEYS))}}}"),
        ("today", _("今日の日付"), "today"),
        ("city", _("市区町村"), "city.name"),
    ]
    filters = [
        ("age_under(15)", _("一覧のうち15歳未満の人"), "household|age_under(15)|count"),
        ("age_at_least(75)", _("一覧のうち75歳以上の人"), "household|age_at_least(75)|count"),
        ("count", _("一覧の人数（0 は偽）"), "household|count"),
        ("eq('…')", _("値が「…」と同じなら真"), "answers.kokuho|eq('yes')"),
        ("age", _("満年齢（0 歳は偽）"), "resident.birth_date|age"),
        ("default('…')", _("空のときの値"), "answers.copies|default('1')"),
    ]
    examples = [
        ("household|age_under(15)|count", _("世帯に15歳未満の子どもがいる")),
        ("household|age_at_least(75)|count", _("世帯に75歳以上の人がいる")),
        ("household|age_at_least(65)|count", _("世帯に65歳以上の人がいる")),
        ("answers.kokuho|eq('yes')", _("「国民健康保険に加入」に「はい」と答えた")),
        ("answers.certificate|eq('juminhyo')", _("証明書の種類で「住民票の写し」を選んだ")),
        ("resident.foreign", _("本人が外国人住民")),
        ("resident.sex|eq('女')", _("本人が女性")),
    ]
    return {"roots": roots, "filters": filters, "examples": examples}


# --- 試算 ------------------------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@_editor
def trial(request: HttpRequest) -> HttpResponse:
    """Try the rules: pick life events, type answers, choose the sample household or a resident (宛名番号;
    the lookup is audited as a view) and see which procedures come out, and because of which rule."""
    form = TrialForm(
        request.POST or None,
        event_choices=[(event.code, event.name) for event in navigation.life_events_active()],
        questions=list(navigation.questions_all()),
    )
    result: dict[str, Any] | None = None
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            sample = data["source"] != SOURCE_RESIDENT
            context = (
                form_sample_context()
                if sample
                else navigation.navigation_trial_context(atena_no=data["atena_no"], actor=request.user)
            )
            if context is None:
                form.add_error("atena_no", _("この宛名番号の住民はいません。"))
            else:
                context = {**context, "answers": form.answers()}
                decided = navigation.procedures_decide(life_events=data["life_events"], context=context)
                form_names = dict(navigation.form_choices())
                result = {
                    "procedures": [
                        (procedure, [(code, form_names.get(code, "")) for code in procedure["forms"]])
                        for procedure in decided
                    ],
                    "household": _household_lines(context, names=sample),
                    "questions": navigation.questions_for(life_events=data["life_events"]),
                }
                status = 200
    return render(
        request,
        "counters/navigation/trial.html",
        {"form": form, "result": result, "crumb": "trial"},
        status=status,
    )


def _household_lines(context: dict[str, Any], *, names: bool) -> list[str]:
    """The household as the rules see it: 続柄 and age of each person (names only for the fictional sample)."""
    lines = []
    for person in context.get("household") or ():
        age = filter_age(person.get("birth_date"), context.get("today"))
        line = _("%(zokugara)s %(age)s歳") % {"zokugara": person.get("zokugara") or "—", "age": age}
        lines.append(f"{person.get('shimei', '')} {line}" if names else line)
    return lines
