"""The clerk screen: the counter's desk (queue, tickets, tablets) and one session from reception to finish.

Every action is a plain POST that redirects back (works without JavaScript, keyboard first); live changes from the
tablet and the devices arrive by push (``session_events``, ``desk_events``: server-sent events), never a timer.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import segno
from asgiref.sync import sync_to_async
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_POST

from forms_engine.schema import FieldSpec
from forms_engine.validation import input_rules
from intake.selectors import ResidentQuery, SearchInvalid, resident_search
from madoguchi import push
from madoguchi.accounts.roles import Role, has_role, in_scope, role_required, scope_check
from madoguchi.responses import inline_pdf

from . import selectors, services
from .forms import ResidentSearchForm
from .models import Counter, CounterGroup, CounterSession, LifeEvent, SessionForm, SessionState

clerk_required = role_required(Role.CLERK)
COMPANION_ROWS = 4
EDITABLE = (SessionState.FORMS, SessionState.RETURNED)
INTERVIEW_STATES = (SessionState.IDENTIFIED, SessionState.INTERVIEW, SessionState.RETURNED)


def _session(request: HttpRequest, reception_no: str) -> CounterSession:
    """The session, if it is at a counter within the user's department scope (404 / 403 otherwise)."""
    session = get_object_or_404(
        CounterSession.objects.select_related(
            "counter__terminal", "counter__group", "clerk", "print_job", "ticket"
        ),
        reception_no=reception_no,
    )
    scope_check(request.user, session.counter.department)
    return session


def _counter(request: HttpRequest, code: str, queryset: Any = Counter.objects) -> Counter:
    """The counter, if it is within the user's department scope (404 / 403 otherwise)."""
    counter: Counter = get_object_or_404(queryset, code=code)
    scope_check(request.user, counter.department)
    return counter


def _version(request: HttpRequest) -> int | None:
    raw = request.POST.get("version", "")
    return int(raw) if raw.isdigit() else None


def _back(reception_no: str) -> HttpResponse:
    return redirect("counters:session", reception_no=reception_no)


def _act(request: HttpRequest, reception_no: str, action: Any, done: str = "") -> HttpResponse:
    """Run one session service for the clerk; its refusal is shown on the screen, nothing else changes."""
    try:
        action()
    except services.SessionError as error:
        messages.error(request, str(error))
    else:
        if done:
            messages.success(request, done)
    return _back(reception_no)


# --- the desk -----------------------------------------------------------------------------------------------


@login_required
@clerk_required
def home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "counters/home.html",
        {
            "counters": [
                counter for counter in selectors.counters_all() if in_scope(request.user, counter.department)
            ],
            "open_sessions": selectors.counter_sessions_open(clerk=request.user),
        },
    )


@login_required
@clerk_required
def desk(request: HttpRequest, code: str) -> HttpResponse:
    counter = _counter(request, code, Counter.objects.select_related("group", "terminal"))
    # The code stays on the desk (which reloads itself on every change) until it is used, voided or expires.
    code_live = (
        counter.pairing_code_expires_at is not None and counter.pairing_code_expires_at > timezone.now()
    )
    pairing_code = request.session.get(f"pairing-code-{counter.pk}", "") if code_live else ""
    pair_url = request.build_absolute_uri(reverse("tablet:pair") + "?" + urlencode({"counter": counter.code}))
    return render(
        request,
        "counters/desk.html",
        {
            "counter": counter,
            "tickets": selectors.tickets_waiting(counter=counter)[:50],
            "waiting": selectors.counter_sessions_waiting(counter=counter),
            "mine": selectors.counter_sessions_open(clerk=request.user).filter(counter=counter),
            "today": selectors.counter_sessions_today(counter=counter)[:30],
            "tablets": counter.tablets.filter(revoked_at=None),
            "pairing_code": pairing_code,
            "pair_url": pair_url,
            # The tablet's camera opens the pairing page for this counter; the code is still typed.
            "pair_qr": segno.make(pair_url, error="m").svg_data_uri(scale=4) if pairing_code else "",
        },
    )


@require_POST
@login_required
@clerk_required
def session_open(request: HttpRequest) -> HttpResponse:
    counter = _counter(request, request.POST.get("counter", ""))
    session = services.counter_session_open(counter=counter, clerk=request.user)
    return _back(session.reception_no)


@require_POST
@login_required
@clerk_required
def desk_call_next(request: HttpRequest, code: str) -> HttpResponse:
    counter = _counter(request, code)
    try:
        session = services.ticket_call_next(counter=counter, clerk=request.user)
    except services.SessionError as error:
        messages.error(request, str(error))
        return redirect("counters:desk", code=code)
    if session is None:
        messages.info(request, _("お待ちの方はいません"))
        return redirect("counters:desk", code=code)
    return _back(session.reception_no)


@require_POST
@login_required
@clerk_required
def ticket_issue(request: HttpRequest) -> HttpResponse:
    """The ticket machine's button (番号札の発券), also on the desk for a clerk who hands out a ticket."""
    group = get_object_or_404(CounterGroup, code=request.POST.get("group", ""))
    ticket = services.ticket_issue(group=group, requested_by=request.user)
    messages.success(request, _("番号札 %(label)s を発券しました") % {"label": ticket.label})
    return redirect(request.POST.get("next") or "counters:home")


@require_POST
@login_required
@clerk_required
def desk_pairing_code(request: HttpRequest, code: str) -> HttpResponse:
    counter = _counter(request, code)
    request.session[f"pairing-code-{counter.pk}"] = services.pairing_code_issue(
        counter=counter, clerk=request.user
    )
    return redirect("counters:desk", code=code)


@require_POST
@login_required
@clerk_required
def desk_tablet_revoke(request: HttpRequest, code: str, tablet_id: int) -> HttpResponse:
    counter = _counter(request, code)
    pairing = get_object_or_404(counter.tablets, pk=tablet_id)
    services.tablet_revoke(pairing=pairing, actor=request.user)
    messages.success(request, _("タブレットのペアリングを解除しました"))
    return redirect("counters:desk", code=code)


# --- one session --------------------------------------------------------------------------------------------


def _field_html(field: FieldSpec, value: Any, form_code: str, editable: bool) -> SafeString:
    """One field of a form as the clerk corrects it, with the input rules the server applies (input_rules).
    Built in Python rather than in the template: a packet has over a hundred fields, and this is the page a clerk
    reloads most."""
    lock = "" if editable else " readonly"
    name = f"f_{field.key}"
    if field.type == "signature":
        return mark_safe("")
    if field.type == "person_list":
        return format_html(
            '<label>{} <textarea name="{}__json" rows="3" class="mj json"{}>{}</textarea></label>',
            field.label,
            name,
            lock,
            json.dumps(value or [], ensure_ascii=False),
        )
    if field.type == "checkbox":
        return format_html(
            '<input type="hidden" name="checkboxes" value="{}"><label class="check"><input type="checkbox" '
            'name="{}"{}{}> {}</label>',
            field.key,
            name,
            " checked" if value else "",
            "" if editable else " disabled",
            field.label,
        )
    if field.type == "choice":
        options = format_html_join(
            "",
            "<option{}>{}</option>",
            ((" selected" if choice == value else "", choice) for choice in field.choices or ()),
        )
        return format_html(
            '<label>{} <select name="{}"{}><option value=""></option>{}</select></label>',
            field.label,
            name,
            "" if editable else " disabled",
            options,
        )
    rules = input_rules(field)
    attributes = format_html_join(
        "",
        ' {}="{}"',
        ((key, rules[key]) for key in ("maxlength", "pattern") if rules.get(key)),
    )
    return format_html(
        '<label>{}{} <input name="{}" value="{}" class="mj"{}{}{}{} data-testid="field-{}-{}">{}</label>',
        field.label,
        mark_safe(' <span class="req" aria-hidden="true">*</span>') if field.required else "",
        name,
        "" if value is None else value,
        mark_safe(' type="date"') if field.type == "date" else "",
        attributes,
        mark_safe(" required") if field.required else "",
        lock,
        form_code,
        field.key,
        format_html("<small>{}</small>", field.help) if field.help else "",
    )


def _form_rows(session: CounterSession, forms: list[SessionForm]) -> list[dict[str, Any]]:
    """Each form of the session with its fields and values, for the clerk to check and correct."""
    sources = selectors.session_form_sources(forms)
    editable = session.state == SessionState.FORMS
    rows = []
    for form in forms:
        spec = sources[form.form_code].spec
        html = format_html_join(
            "\n",
            "{}",
            (
                (_field_html(field, form.data.get(field.key, ""), form.form_code, editable),)
                for field in spec.fields
            ),
        )
        rows.append({"form": form, "html": html})
    return rows


@login_required
@clerk_required
def session_detail(request: HttpRequest, reception_no: str) -> HttpResponse:
    session = _session(request, reception_no)
    mine = session.clerk_id == request.user.pk
    form = ResidentSearchForm(request.GET or None)
    results = None
    if (
        mine
        and session.state == SessionState.RECEPTION
        and form.is_valid()
        and any(form.cleaned_data.values())
    ):
        try:
            results = resident_search(
                actor=request.user, query=ResidentQuery(**form.cleaned_data), page=request.GET.get("page", 1)
            )
        except SearchInvalid as invalid:
            form.add_error(None, str(invalid))
    resident, household = (
        selectors.session_resident_view(session=session, actor=request.user) if mine else (None, [])
    )
    interviewing = mine and session.state in INTERVIEW_STATES
    life_events = (
        list(LifeEvent.objects.filter(active=True).prefetch_related("questions")) if interviewing else []
    )
    questions: dict[str, dict[str, Any]] = {}
    for event in life_events:
        for question in event.questions.all():
            item = questions.setdefault(
                question.code,
                {
                    "question": question,
                    "events": [],
                    "value": session.answers.get(question.code, ""),
                    "choices": [
                        (c.get("value", ""), c.get("label", c.get("value", "")))
                        if isinstance(c, dict)
                        else (c, c)
                        for c in question.choices
                    ],
                },
            )
            item["events"].append(event.code)
    forms = list(selectors.session_forms(session=session)) if mine else []
    companions = list(session.answers.get("companions", []))
    companions += [{}] * max(1, COMPANION_ROWS - len(companions))
    return render(
        request,
        "counters/session.html",
        {
            "session": session,
            "mine": mine,
            "form": form,
            "results": results,
            "resident": resident,
            "household": household,
            "card": session.card,
            "card_failure": card_failure_text(str(session.card.get("reason", ""))),
            "card_probe_failure": card_failure_text(str(session.card.get("probe", ""))),
            "card_probe_json": json.dumps(
                [session.card.get("probe"), session.card.get("retries_left")], separators=(",", ":")
            ),
            "life_events": life_events,
            "questions": list(questions.values()),
            "companions": companions,
            # The editable fields only while the forms can be corrected; otherwise the list of forms.
            "form_rows": _form_rows(session, forms) if mine and session.state in EDITABLE else [],
            "form_list": forms,
            "other_counters": Counter.objects.exclude(pk=session.counter_id).order_by("code"),
            "timeline": session.events.select_related("actor", "counter"),
            "qr_error": _qr_error(session),
            "print_job": session.print_job,
            "output_failed": session.state == SessionState.FINISHED
            and session.print_job_id is None
            and services.output_failed(session),
            "steps": [state for state in SessionState if state != SessionState.RETURNED],
            "query_string": urlencode({k: v for k, v in form.cleaned_data.items() if v}) if results else "",
        },
    )


@require_POST
@login_required
@clerk_required
def session_claim(request: HttpRequest, reception_no: str) -> HttpResponse:
    session = _session(request, reception_no)
    return _act(request, reception_no, lambda: services.session_claim(session=session, clerk=request.user))


@require_POST
@login_required
@clerk_required
def session_release(request: HttpRequest, reception_no: str) -> HttpResponse:
    session = _session(request, reception_no)
    try:
        services.session_release(session=session, clerk=request.user)
    except services.SessionError as error:
        messages.error(request, str(error))
        return _back(reception_no)
    return redirect("counters:desk", code=session.counter.code)


@require_POST
@login_required
@clerk_required
def session_handoff(request: HttpRequest, reception_no: str) -> HttpResponse:
    session = _session(request, reception_no)
    to = get_object_or_404(Counter, code=request.POST.get("counter", ""))
    try:
        services.session_handoff(session=session, to_counter=to, clerk=request.user)
    except services.SessionError as error:
        messages.error(request, str(error))
        return _back(reception_no)
    messages.success(
        request, _("受付 %(no)s を %(counter)s に引き継ぎました") % {"no": reception_no, "counter": to.name}
    )
    return redirect("counters:desk", code=session.counter.code)


@require_POST
@login_required
@clerk_required
def session_identify(request: HttpRequest, reception_no: str) -> HttpResponse:
    session = _session(request, reception_no)
    return _act(
        request,
        reception_no,
        lambda: services.session_identify(
            session=session,
            atena_no=request.POST.get("atena_no", ""),
            clerk=request.user,
            version=_version(request),
        ),
    )


@require_POST
@login_required
@clerk_required
def session_qr(request: HttpRequest, reception_no: str) -> HttpResponse:
    session = _session(request, reception_no)
    return _act(
        request,
        reception_no,
        lambda: services.session_qr(
            session=session, payload=request.POST.get("payload", ""), clerk=request.user
        ),
    )


CARD_FAILURES = {
    "wrong_pin": gettext_lazy("暗証番号が違います"),
    "locked": gettext_lazy("カードがロックされています（市区町村の窓口で解除が必要です）"),
    "no_card": gettext_lazy("カードリーダーにカードがありません"),
    "unknown_card": gettext_lazy("読み取れないカードです（種類を確かめてください）"),
    "card_removed": gettext_lazy("読み取りの途中でカードが抜かれました"),
    "malformed": gettext_lazy("カードのデータを解釈できませんでした"),
    "wrong_card_number": gettext_lazy("照合番号・カード番号が違います"),
    "reader_missing": gettext_lazy("カードリーダーが接続されていません"),
    "reader_error": gettext_lazy("カードリーダーの異常です"),
    "bad_command": gettext_lazy("端末が読み取りの依頼を開けませんでした（端末の登録を確かめてください）"),
    "expired": gettext_lazy(
        "読み取りの依頼が端末に届くのが遅れ、期限切れになりました（端末の時計と通信を確かめてください）"
    ),
}


def card_failure_text(reason: str) -> str:
    """The clerk's words for an agent's card.failed reason (the code itself when it is not known)."""
    text = CARD_FAILURES.get(reason)
    return str(text) if text is not None else reason


def _qr_error(session: CounterSession) -> str:
    """The reason of the agent's scanner's last unreadable code, while it is the session's latest event."""
    if session.state != SessionState.RECEPTION:
        return ""
    last = session.events.order_by("-pk").values("kind", "detail").first()
    return str(last["detail"].get("error", "")) if last and last["kind"] == "qr_failed" else ""


@sensitive_post_parameters("printed")  # 照合番号B or a residence card number
@require_POST
@login_required
@clerk_required
def session_card(request: HttpRequest, reception_no: str) -> HttpResponse:
    session = _session(request, reception_no)
    if request.POST.get("cancel"):
        return _act(
            request, reception_no, lambda: services.session_card_cancel(session=session, clerk=request.user)
        )
    return _act(
        request,
        reception_no,
        lambda: services.session_card_request(
            session=session,
            clerk=request.user,
            kind=request.POST.get("kind", "mynumber"),
            printed=request.POST.get("printed", ""),
        ),
    )


def _companions(request: HttpRequest) -> list[dict[str, str]]:
    keys = ("shi", "mei", "shi_kana", "mei_kana", "birth_date", "sex", "zokugara")
    columns = {key: request.POST.getlist(f"companion_{key}") for key in keys}
    count = max((len(values) for values in columns.values()), default=0)
    return [{key: (columns[key][i] if i < len(columns[key]) else "") for key in keys} for i in range(count)]


@require_POST
@login_required
@clerk_required
def session_interview(request: HttpRequest, reception_no: str) -> HttpResponse:
    session = _session(request, reception_no)
    answers = {
        key[len("answer_") :]: value for key, value in request.POST.items() if key.startswith("answer_")
    }
    return _act(
        request,
        reception_no,
        lambda: services.session_interview(
            session=session,
            clerk=request.user,
            life_events=request.POST.getlist("life_event"),
            answers=answers,
            companions=_companions(request),
            version=_version(request),
        ),
    )


@require_POST
@login_required
@clerk_required
def session_prepare(request: HttpRequest, reception_no: str) -> HttpResponse:
    session = _session(request, reception_no)
    return _act(
        request,
        reception_no,
        lambda: services.session_forms_prepare(
            session=session, clerk=request.user, version=_version(request)
        ),
    )


@require_POST
@login_required
@clerk_required
def session_form_save(request: HttpRequest, reception_no: str, form_code: str) -> HttpResponse:
    session = _session(request, reception_no)
    data: dict[str, Any] = {}
    for key in request.POST:
        value = request.POST.get(key, "")
        if not key.startswith("f_"):
            continue
        if key.endswith("__json"):
            try:
                data[key[2:-6]] = json.loads(value or "[]")
            except ValueError:
                messages.error(request, _("%(field)s の内容が読めません") % {"field": key[2:-6]})
                return _back(reception_no)
        else:
            data[key[2:]] = value
    for key in request.POST.getlist("checkboxes"):
        data[key] = f"f_{key}" in request.POST
    try:
        errors = services.session_form_save(
            session=session, clerk=request.user, form_code=form_code, data=data, version=_version(request)
        )
    except services.SessionError as error:
        messages.error(request, str(error))
        return _back(reception_no)
    if errors:
        for key, problems in errors.items():
            messages.error(request, f"{key}: {' '.join(problems)}")
    else:
        messages.success(request, _("申請書を保存しました"))
    return _back(reception_no)


@require_POST
@login_required
@clerk_required
def session_to_tablet(request: HttpRequest, reception_no: str) -> HttpResponse:
    session = _session(request, reception_no)
    return _act(
        request,
        reception_no,
        lambda: services.session_to_tablet(session=session, clerk=request.user, version=_version(request)),
        _("タブレットに送りました。住民の確認をお待ちください"),
    )


@require_POST
@login_required
@clerk_required
def session_back(request: HttpRequest, reception_no: str) -> HttpResponse:
    session = _session(request, reception_no)
    return _act(
        request,
        reception_no,
        lambda: services.session_step_back(
            session=session, clerk=request.user, to=request.POST.get("to", ""), version=_version(request)
        ),
    )


@require_POST
@login_required
@clerk_required
def session_return(request: HttpRequest, reception_no: str) -> HttpResponse:
    session = _session(request, reception_no)
    return _act(
        request,
        reception_no,
        lambda: services.session_return(
            session=session, clerk=request.user, reason=request.POST.get("reason", "")
        ),
    )


@require_POST
@login_required
@clerk_required
def session_finish(request: HttpRequest, reception_no: str) -> HttpResponse:
    session = _session(request, reception_no)
    return _act(
        request,
        reception_no,
        lambda: services.session_finish(session=session, clerk=request.user, version=_version(request)),
        _("受付を完了しました。申請書と手続案内書を印刷します"),
    )


@require_POST
@login_required
@clerk_required
def session_reprint(request: HttpRequest, reception_no: str) -> HttpResponse:
    session = _session(request, reception_no)
    return _act(request, reception_no, lambda: services.session_reprint(session=session, clerk=request.user))


@require_GET
@login_required
@clerk_required
def session_form_pdf(request: HttpRequest, reception_no: str) -> HttpResponse:
    """The session's forms as they stand, as one PDF for the clerk to look at; audited as a view."""
    session = _session(request, reception_no)
    if session.clerk_id != request.user.pk:
        raise PermissionDenied
    try:
        pdf = services.session_preview_pdf(session=session, actor=request.user)
    except services.SessionError as error:
        return HttpResponse(str(error), status=409, content_type="text/plain; charset=utf-8")
    return inline_pdf(pdf, filename=f"{session.reception_no}.pdf")


# --- push ---------------------------------------------------------------------------------------------------


async def _clerk(request: HttpRequest) -> Any:
    user = await request.auser()
    if not await sync_to_async(has_role)(user, Role.CLERK):
        raise PermissionDenied
    return user


def _session_snapshot(reception_no: str) -> dict[str, Any]:
    row = (
        CounterSession.objects.filter(reception_no=reception_no)
        .values("version", "state", "clerk_id", "print_job__status", "card")
        .first()
    )
    if not row:
        return {}
    # What the reader found before the PIN changes the page without a new version (card_probe_event).
    snapshot: dict[str, Any] = {key: value for key, value in row.items() if key != "card"}
    card = row["card"] or {}
    return {**snapshot, "card_probe": [card.get("probe"), card.get("retries_left")]}


async def session_events(request: HttpRequest, reception_no: str) -> HttpResponseBase:
    """Server-sent events of one session for the clerk screen: a snapshot (version, state, print status) on
    connect and after every change — the page reloads what changed."""
    user = await _clerk(request)
    department = (
        await CounterSession.objects.filter(reception_no=reception_no)
        .values_list("counter__department", flat=True)
        .afirst()
    )
    if department is None:
        return JsonResponse({"error": "no such reception"}, status=404)
    await sync_to_async(scope_check)(user, department)

    async def snapshot() -> dict[str, Any]:
        return await sync_to_async(_session_snapshot)(reception_no)

    return push.sse_response(request, topics=[f"session:{reception_no}"], snapshot=snapshot)


def _desk_snapshot(code: str) -> dict[str, Any]:
    counter = Counter.objects.filter(code=code).first()
    if counter is None:
        return {}
    tickets = selectors.tickets_waiting(counter=counter)
    sessions = CounterSession.objects.filter(counter=counter).exclude(state=SessionState.FINISHED)
    return {
        "tickets": tickets.count(),
        "last_ticket": tickets.order_by("-number").values_list("number", flat=True).first(),
        "sessions": sorted(sessions.values_list("pk", "version", "clerk_id")),
        "tablets": counter.tablets.filter(revoked_at=None).count(),
    }


async def desk_events(request: HttpRequest, code: str) -> HttpResponseBase:
    """Server-sent events of a counter's desk: the ticket queue, sessions handed over, tablets."""
    user = await _clerk(request)
    counter = await Counter.objects.select_related("group").filter(code=code).afirst()
    if counter is None:
        return JsonResponse({"error": "no such counter"}, status=404)
    await sync_to_async(scope_check)(user, counter.department)
    topics = [f"counter:{code}"] + ([f"group:{counter.group.code}"] if counter.group else [])

    async def snapshot() -> dict[str, Any]:
        return await sync_to_async(_desk_snapshot)(code)

    return push.sse_response(request, topics=topics, snapshot=snapshot)
