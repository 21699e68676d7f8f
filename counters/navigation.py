"""手続ナビ (R-C3): life events, interview questions, procedures and the rules that pick them, as data a form
admin edits in the browser.

A rule applies a procedure when the visit is about one of the rule's life events and every condition holds. A
condition is a binding over the form context (docs/forms.md §2) read as true or false, e.g.
``household|age_under(15)|count`` (a child under 15 in the household) or ``answers.kokuho|eq('yes')``.
docs/navigation.md documents the concepts, the condition language and the seed (``counters/navigation.json``).

Selectors: ``life_events_active``, ``questions_for``, ``procedures_decide``, ``navigation_trial_context``.
Services: ``navigation_seed_load`` and the editor's create/update/delete of each kind, all audited.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext as _

from forms_engine.bindings import (
    CONTEXT_ROOTS,
    Binding,
    BindingInvalid,
    binding_check,
    binding_parse,
    binding_value,
)
from forms_engine.schema import TRANSLATION_LANGUAGES
from forms_engine.selectors import form_templates_all
from madoguchi.audit.models import AuditAction
from madoguchi.audit.services import audit_record

from .models import CounterGroup, LifeEvent, Procedure, ProcedureRule, Question, QuestionKind
from .selectors import resident_context_viewed

logger = logging.getLogger(__name__)

SEED_PATH = Path(__file__).resolve().parent / "navigation.json"
# What a condition may read: the visit's context, not the procedures it decides nor a form's own fields.
CONDITION_ROOTS = ("resident", "household", "answers", "card", "session", "today", "city")
# Codes name rows everywhere (sessions, audit records); a question's code is also a binding key: answers.<code>.
CODE_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
# ``age_under:15`` (a template language's habit) instead of ``age_under(15)``: worth a hint.
_COLON_ARGUMENT = re.compile(r"\|\s*[a-z_]+\s*:")
AUDIT_TARGET = "navigation"
YES, NO = "yes", "no"


class NavigationInvalid(ValueError):
    """A change the editor refuses; the message (Japanese) says why. Nothing was changed."""


# --- conditions ------------------------------------------------------------------------------------------------


def condition_check(text: str) -> str | None:
    """The problem with one condition, as a message for the form admin, or None when it can be used."""
    text = text.strip()
    if not text:
        return _("条件が空です。")
    try:
        binding = binding_parse(text)
        if binding.literal is None and binding.root in CONTEXT_ROOTS and binding.root not in CONDITION_ROOTS:
            return _("条件「%(text)s」: 条件で読めるのは %(roots)s です。") % {
                "text": text,
                "roots": ", ".join(CONDITION_ROOTS),
            }
        binding_check(text, fields={})
    except BindingInvalid as exc:
        problem = _("条件「%(text)s」は使えません: %(problem)s") % {"text": text, "problem": exc}
        if _COLON_ARGUMENT.search(text):
            problem += " " + _("フィルターの引数は age_under(15) や eq('yes') のように括弧で書きます。")
        return problem
    # 「いいえ」is the text "no", which reads as true: a bare yes/no answer is always a mistake.
    if (
        binding.root == "answers"
        and len(binding.path) == 2
        and not binding.filters
        and Question.objects.filter(code=binding.path[1], kind=QuestionKind.YESNO).exists()
    ):
        return _(
            "条件「%(text)s」: はい・いいえの回答は「いいえ」でも真になります。%(text)s|eq('yes') と書きます。"
        ) % {"text": text}
    return None


def conditions_clean(conditions: Iterable[str]) -> list[str]:
    """The conditions without blank lines, each checked; NavigationInvalid names the first that cannot be used."""
    cleaned = [text.strip() for text in conditions if text.strip()]
    for text in cleaned:
        problem = condition_check(text)
        if problem:
            raise NavigationInvalid(problem)
    return cleaned


def _condition_holds(rule: ProcedureRule, text: str, context: Mapping[str, Any]) -> bool:
    """Whether one condition reads as true; a condition that cannot be read or evaluated is false. The log says
    which rule and condition (written by a form admin), never a value of the context."""
    try:
        binding: Binding = binding_parse(text)
        return bool(binding_value(binding, context))
    except Exception as exc:
        logger.warning(
            "navigation condition failed: rule=%s condition=%r error=%s", rule.pk, text, type(exc).__name__
        )
        return False


def rule_describe(rule: ProcedureRule) -> str:
    """What a rule says, for 「…だから」: its description, else its conditions, else 「常に」."""
    return rule.description or " / ".join(rule.conditions) or _("常に")


# --- selectors -------------------------------------------------------------------------------------------------


def life_events_active() -> QuerySet[LifeEvent]:
    """The life events offered in the interview, in display order."""
    return LifeEvent.objects.filter(active=True).order_by("order", "code")


def life_events_all() -> QuerySet[LifeEvent]:
    """Every life event with its questions and rules (and the rules' procedures), for the editor."""
    return LifeEvent.objects.order_by("order", "code").prefetch_related(
        Prefetch("questions", queryset=Question.objects.order_by("order", "code")),
        Prefetch(
            "rules", queryset=ProcedureRule.objects.select_related("procedure").order_by("procedure__order")
        ),
    )


def questions_all() -> QuerySet[Question]:
    return Question.objects.order_by("order", "code").prefetch_related("life_events")


def procedures_all() -> QuerySet[Procedure]:
    """Every procedure with its counter group and rules, for the editor."""
    return (
        Procedure.objects.select_related("counter_group")
        .order_by("order", "code")
        .prefetch_related(
            Prefetch("rules", queryset=ProcedureRule.objects.order_by("id").prefetch_related("life_events"))
        )
    )


def counter_groups_all() -> QuerySet[CounterGroup]:
    return CounterGroup.objects.order_by("code")


def form_choices() -> list[tuple[str, str]]:
    """The forms a procedure can point at: (code, name) of every form template."""
    return [(template.code, template.name) for template in form_templates_all()]


def procedure_forms_missing() -> dict[str, list[str]]:
    """Procedure code → the form codes it names that no form template has (e.g. a form deleted since)."""
    existing = {code for code, _name in form_choices()}
    missing = {}
    for code, forms in Procedure.objects.values_list("code", "forms"):
        absent = [form for form in forms or () if form not in existing]
        if absent:
            missing[code] = absent
    return missing


def questions_for(*, life_events: Sequence[str]) -> list[Question]:
    """The questions asked for these life events (by code): each once, in display order."""
    return list(
        Question.objects.filter(life_events__code__in=list(life_events)).distinct().order_by("order", "code")
    )


def procedures_decide(*, life_events: Sequence[str], context: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The procedures a visit about ``life_events`` (codes) needs, given the form ``context`` (resident,
    household, answers …; docs/forms.md §2), in procedure order. Each is a snapshot of plain data — ``code``,
    ``name``, ``department``, ``counter_group`` (its code or empty), ``counter_group_name``, ``bring``, ``note``,
    ``forms`` (form codes) and ``because`` (the description of every rule that matched) — so a session keeps
    what it was told even when the rules change later. Inactive procedures never appear."""
    events = set(life_events)
    if not events:
        return []
    rules = (
        ProcedureRule.objects.filter(life_events__code__in=events, procedure__active=True)
        .distinct()
        .select_related("procedure__counter_group")
        .order_by("procedure__order", "procedure__code", "id")
    )
    decided: dict[int, dict[str, Any]] = {}
    for rule in rules:
        if not all(_condition_holds(rule, text, context) for text in rule.conditions or ()):
            continue
        procedure = rule.procedure
        if procedure.pk not in decided:
            decided[procedure.pk] = _procedure_snapshot(procedure) | {"because": []}
        decided[procedure.pk]["because"].append(rule_describe(rule))
    return list(decided.values())


def _procedure_snapshot(procedure: Procedure) -> dict[str, Any]:
    group = procedure.counter_group
    return {
        "code": procedure.code,
        "name": procedure.name,
        "department": procedure.department,
        "counter_group": group.code if group else "",
        "counter_group_name": group.name if group else "",
        "bring": procedure.bring,
        "note": procedure.note,
        "forms": list(procedure.forms or ()),
    }


def navigation_trial_context(*, atena_no: str, actor: Any) -> dict[str, Any] | None:
    """The form context of the resident ``atena_no`` (宛名番号) for the editor's 試算; audited as a view.
    None when there is no such resident."""
    return resident_context_viewed(
        atena_no=atena_no, actor=actor, purpose="navigation trial", reception_no="TRIAL"
    )


# --- the seed --------------------------------------------------------------------------------------------------


def navigation_seed_load(*, path: Path | None = None) -> dict[str, int]:
    """Load the seed (``counters/navigation.json``): create the counter groups, life events, questions and
    procedures it names that are missing by code, and a procedure's rules when it has none. Rows that exist are
    left as they are, so a city's edits survive loading again. Returns how many of each were created."""
    seed = json.loads((path or SEED_PATH).read_text(encoding="utf-8"))
    created = {"counter_groups": 0, "life_events": 0, "questions": 0, "procedures": 0, "rules": 0}
    with transaction.atomic():
        for item in seed.get("counter_groups", ()):
            _group, made = CounterGroup.objects.get_or_create(
                code=item["code"],
                defaults={"name": item["name"], "ticket_prefix": item.get("ticket_prefix", "")},
            )
            created["counter_groups"] += made
        for item in seed.get("life_events", ()):
            _event, made = LifeEvent.objects.get_or_create(
                code=item["code"],
                defaults={
                    "name": item["name"],
                    "order": item.get("order", 0),
                    "active": item.get("active", True),
                    "translations": item.get("translations", {}),
                },
            )
            created["life_events"] += made
        events = {event.code: event for event in LifeEvent.objects.all()}
        for item in seed.get("questions", ()):
            question, made = Question.objects.get_or_create(
                code=item["code"],
                defaults={
                    "text": item["text"],
                    "help": item.get("help", ""),
                    "kind": item["kind"],
                    "choices": item.get("choices", []),
                    "order": item.get("order", 0),
                },
            )
            if made:
                question.life_events.set(_seed_events(events, item.get("life_events", ())))
            created["questions"] += made
        groups = {group.code: group for group in CounterGroup.objects.all()}
        for item in seed.get("procedures", ()):
            procedure, made = Procedure.objects.get_or_create(
                code=item["code"],
                defaults={
                    "name": item["name"],
                    "department": item.get("department", ""),
                    "counter_group": groups.get(item.get("counter_group", "")),
                    "bring": item.get("bring", ""),
                    "note": item.get("note", ""),
                    "forms": item.get("forms", []),
                    "order": item.get("order", 0),
                    "active": item.get("active", True),
                },
            )
            created["procedures"] += made
            if procedure.rules.exists():
                continue
            for rule_item in item.get("rules", ()):
                rule = ProcedureRule.objects.create(
                    procedure=procedure,
                    conditions=_seed_conditions(rule_item.get("conditions", ())),
                    description=rule_item.get("description", ""),
                )
                rule.life_events.set(_seed_events(events, rule_item.get("life_events", ())))
                created["rules"] += 1
        if any(created.values()):
            audit_record(
                actor=None,
                action=AuditAction.ADMIN,
                target_type=AUDIT_TARGET,
                target_ref="seed",
                detail={"change": "seed", "created": created},
            )
    return created


def _seed_events(events: Mapping[str, LifeEvent], codes: Iterable[str]) -> list[LifeEvent]:
    return [events[code] for code in codes if code in events]


def _seed_conditions(conditions: Iterable[str]) -> list[str]:
    try:
        return conditions_clean(conditions)
    except NavigationInvalid as exc:
        raise ValueError(f"counters/navigation.json: {exc}") from None


# --- the editor's services -------------------------------------------------------------------------------------


def _code_check(code: str) -> None:
    if not re.fullmatch(CODE_PATTERN, code):
        raise NavigationInvalid(
            _("コード「%(code)s」は使えません（半角英小文字で始め、英小文字・数字・「_」で32文字まで）。")
            % {"code": code}
        )


def _audit(*, actor: Any, ref: str, kind: str, change: str, **detail: Any) -> None:
    audit_record(
        actor=actor,
        action=AuditAction.ADMIN,
        target_type=AUDIT_TARGET,
        target_ref=ref,
        detail={"kind": kind, "change": change, **detail},
    )


def _events_by_code(codes: Iterable[str]) -> list[LifeEvent]:
    wanted = list(dict.fromkeys(codes))
    found = {event.code: event for event in LifeEvent.objects.filter(code__in=wanted)}
    unknown = [code for code in wanted if code not in found]
    if unknown:
        raise NavigationInvalid(_("ライフイベント「%(code)s」はありません。") % {"code": unknown[0]})
    return [found[code] for code in wanted]


def _translations_clean(translations: Mapping[str, str] | None) -> dict[str, str]:
    """``{language: name}`` for the tablet's languages (ja-easy, en …), blanks dropped."""
    cleaned = {}
    for language, name in (translations or {}).items():
        if language not in TRANSLATION_LANGUAGES:
            raise NavigationInvalid(_("言語「%(language)s」には対応していません。") % {"language": language})
        if name.strip():
            cleaned[language] = name.strip()
    return cleaned


def life_event_snapshot(event: LifeEvent) -> dict[str, Any]:
    return {
        "code": event.code,
        "name": event.name,
        "order": event.order,
        "active": event.active,
        "translations": event.translations,
    }


def life_event_create(
    *,
    code: str,
    name: str,
    order: int = 0,
    active: bool = True,
    translations: Mapping[str, str] | None = None,
    actor: Any,
) -> LifeEvent:
    """A new life event; ``translations`` maps a tablet language (ja-easy, en …) to the event's name."""
    _code_check(code)
    if LifeEvent.objects.filter(code=code).exists():
        raise NavigationInvalid(_("コード「%(code)s」のライフイベントは既にあります。") % {"code": code})
    with transaction.atomic():
        event = LifeEvent.objects.create(
            code=code, name=name, order=order, active=active, translations=_translations_clean(translations)
        )
        _audit(actor=actor, ref=code, kind="life_event", change="create", after=life_event_snapshot(event))
    return event


def life_event_update(
    *,
    event: LifeEvent,
    name: str,
    order: int,
    active: bool,
    translations: Mapping[str, str] | None,
    actor: Any,
) -> LifeEvent:
    """Change a life event (its code names it and stays)."""
    before = life_event_snapshot(event)
    with transaction.atomic():
        event.name, event.order, event.active = name, order, active
        event.translations = _translations_clean(translations)
        event.save()
        _audit(
            actor=actor,
            ref=event.code,
            kind="life_event",
            change="update",
            before=before,
            after=life_event_snapshot(event),
        )
    return event


def life_event_delete(*, event: LifeEvent, actor: Any) -> None:
    """Delete a life event; questions and rules lose it (a rule left without life events never applies)."""
    before = life_event_snapshot(event)
    with transaction.atomic():
        event.delete()
        _audit(actor=actor, ref=before["code"], kind="life_event", change="delete", before=before)


def _choices_clean(kind: str, choices: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    cleaned = [
        {"value": str(choice.get("value", "")).strip(), "label": str(choice.get("label", "")).strip()}
        for choice in choices
    ]
    cleaned = [choice for choice in cleaned if choice["value"]]
    if kind == QuestionKind.CHOICE and not cleaned:
        raise NavigationInvalid(_("選択の質問には選択肢が要ります。"))
    if kind != QuestionKind.CHOICE and cleaned:
        raise NavigationInvalid(_("選択肢を持てるのは選択の質問だけです。"))
    values = [choice["value"] for choice in cleaned]
    if len(set(values)) != len(values):
        raise NavigationInvalid(_("選択肢の値が重なっています。"))
    for choice in cleaned:
        choice["label"] = choice["label"] or choice["value"]
    return cleaned


def question_snapshot(question: Question) -> dict[str, Any]:
    return {
        "code": question.code,
        "text": question.text,
        "help": question.help,
        "kind": question.kind,
        "choices": question.choices,
        "order": question.order,
        "life_events": sorted(question.life_events.values_list("code", flat=True)),
    }


def question_create(
    *,
    code: str,
    text: str,
    kind: str,
    help_text: str = "",
    choices: Sequence[Mapping[str, str]] = (),
    life_events: Sequence[str] = (),
    order: int = 0,
    actor: Any,
) -> Question:
    """A new interview question; its answer is ``answers.<code>`` (a yes/no answer is ``yes`` or ``no``; a
    choice answer is the choice's ``value``)."""
    _code_check(code)
    if kind not in QuestionKind.values:
        raise NavigationInvalid(_("回答の種類「%(kind)s」はありません。") % {"kind": kind})
    if Question.objects.filter(code=code).exists():
        raise NavigationInvalid(_("コード「%(code)s」の質問は既にあります。") % {"code": code})
    cleaned_choices = _choices_clean(kind, choices)
    events = _events_by_code(life_events)
    with transaction.atomic():
        question = Question.objects.create(
            code=code, text=text, help=help_text, kind=kind, choices=cleaned_choices, order=order
        )
        question.life_events.set(events)
        _audit(actor=actor, ref=code, kind="question", change="create", after=question_snapshot(question))
    return question


def question_update(
    *,
    question: Question,
    text: str,
    kind: str,
    help_text: str = "",
    choices: Sequence[Mapping[str, str]] = (),
    life_events: Sequence[str] = (),
    order: int = 0,
    actor: Any,
) -> Question:
    """Change a question (its code names its answer and stays)."""
    if kind not in QuestionKind.values:
        raise NavigationInvalid(_("回答の種類「%(kind)s」はありません。") % {"kind": kind})
    cleaned_choices = _choices_clean(kind, choices)
    events = _events_by_code(life_events)
    before = question_snapshot(question)
    with transaction.atomic():
        question.text, question.help, question.kind = text, help_text, kind
        question.choices, question.order = cleaned_choices, order
        question.save()
        question.life_events.set(events)
        _audit(
            actor=actor,
            ref=question.code,
            kind="question",
            change="update",
            before=before,
            after=question_snapshot(question),
        )
    return question


def question_delete(*, question: Question, actor: Any) -> None:
    before = question_snapshot(question)
    with transaction.atomic():
        question.delete()
        _audit(actor=actor, ref=before["code"], kind="question", change="delete", before=before)


def _forms_clean(forms: Iterable[str]) -> list[str]:
    wanted = list(dict.fromkeys(code.strip() for code in forms if code.strip()))
    existing = set(form_templates_all().filter(code__in=wanted).values_list("code", flat=True))
    unknown = [code for code in wanted if code not in existing]
    if unknown:
        raise NavigationInvalid(_("様式「%(code)s」はありません。") % {"code": unknown[0]})
    return wanted


def _group_by_code(code: str) -> CounterGroup | None:
    if not code:
        return None
    group = CounterGroup.objects.filter(code=code).first()
    if group is None:
        raise NavigationInvalid(_("窓口グループ「%(code)s」はありません。") % {"code": code})
    return group


def procedure_snapshot(procedure: Procedure) -> dict[str, Any]:
    return _procedure_snapshot(procedure) | {"order": procedure.order, "active": procedure.active}


def procedure_create(
    *,
    code: str,
    name: str,
    department: str = "",
    counter_group: str = "",
    bring: str = "",
    note: str = "",
    forms: Sequence[str] = (),
    order: int = 0,
    active: bool = True,
    actor: Any,
) -> Procedure:
    """A new procedure; ``counter_group`` is a counter group's code (or empty), ``forms`` existing form codes."""
    _code_check(code)
    if Procedure.objects.filter(code=code).exists():
        raise NavigationInvalid(_("コード「%(code)s」の手続は既にあります。") % {"code": code})
    cleaned_forms = _forms_clean(forms)
    group = _group_by_code(counter_group)
    with transaction.atomic():
        procedure = Procedure.objects.create(
            code=code,
            name=name,
            department=department,
            counter_group=group,
            bring=bring,
            note=note,
            forms=cleaned_forms,
            order=order,
            active=active,
        )
        _audit(actor=actor, ref=code, kind="procedure", change="create", after=procedure_snapshot(procedure))
    return procedure


def procedure_update(
    *,
    procedure: Procedure,
    name: str,
    department: str = "",
    counter_group: str = "",
    bring: str = "",
    note: str = "",
    forms: Sequence[str] = (),
    order: int = 0,
    active: bool = True,
    actor: Any,
) -> Procedure:
    """Change a procedure (its code stays). Sessions keep the snapshot they were given."""
    cleaned_forms = _forms_clean(forms)
    group = _group_by_code(counter_group)
    before = procedure_snapshot(procedure)
    with transaction.atomic():
        procedure.name, procedure.department, procedure.counter_group = name, department, group
        procedure.bring, procedure.note, procedure.forms = bring, note, cleaned_forms
        procedure.order, procedure.active = order, active
        procedure.save()
        _audit(
            actor=actor,
            ref=procedure.code,
            kind="procedure",
            change="update",
            before=before,
            after=procedure_snapshot(procedure),
        )
    return procedure


def procedure_delete(*, procedure: Procedure, actor: Any) -> None:
    """Delete a procedure and its rules."""
    before = procedure_snapshot(procedure) | {
        "rules": [rule_snapshot(rule) for rule in procedure.rules.all()]
    }
    with transaction.atomic():
        procedure.delete()
        _audit(actor=actor, ref=before["code"], kind="procedure", change="delete", before=before)


def rule_ref(rule: ProcedureRule) -> str:
    """A rule's name in the audit log: its procedure's code and its number."""
    return f"{rule.procedure.code}#{rule.pk}"


def rule_snapshot(rule: ProcedureRule) -> dict[str, Any]:
    return {
        "procedure": rule.procedure.code,
        "life_events": sorted(rule.life_events.values_list("code", flat=True)),
        "conditions": list(rule.conditions or ()),
        "description": rule.description,
    }


def rule_create(
    *,
    procedure: Procedure,
    life_events: Sequence[str],
    conditions: Sequence[str] = (),
    description: str = "",
    actor: Any,
) -> ProcedureRule:
    """A new rule of ``procedure``: it applies for ``life_events`` (codes) when every condition holds (no
    conditions: always). An invalid condition raises NavigationInvalid with condition_check's message."""
    cleaned = conditions_clean(conditions)
    events = _events_by_code(life_events)
    if not events:
        raise NavigationInvalid(_("ライフイベントを一つ以上選んでください。"))
    with transaction.atomic():
        rule = ProcedureRule.objects.create(procedure=procedure, conditions=cleaned, description=description)
        rule.life_events.set(events)
        _audit(actor=actor, ref=rule_ref(rule), kind="rule", change="create", after=rule_snapshot(rule))
    return rule


def rule_update(
    *,
    rule: ProcedureRule,
    life_events: Sequence[str],
    conditions: Sequence[str] = (),
    description: str = "",
    actor: Any,
) -> ProcedureRule:
    """Change a rule's life events, conditions and description; refused as a whole like rule_create."""
    cleaned = conditions_clean(conditions)
    events = _events_by_code(life_events)
    if not events:
        raise NavigationInvalid(_("ライフイベントを一つ以上選んでください。"))
    before = rule_snapshot(rule)
    with transaction.atomic():
        rule.conditions, rule.description = cleaned, description
        rule.save()
        rule.life_events.set(events)
        _audit(
            actor=actor,
            ref=rule_ref(rule),
            kind="rule",
            change="update",
            before=before,
            after=rule_snapshot(rule),
        )
    return rule


def rule_delete(*, rule: ProcedureRule, actor: Any) -> None:
    before, ref = rule_snapshot(rule), rule_ref(rule)
    with transaction.atomic():
        rule.delete()
        _audit(actor=actor, ref=ref, kind="rule", change="delete", before=before)
