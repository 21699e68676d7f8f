"""The counter visit through the clerk's screen (Django's test client) and the session services: states in order,
one clerk at a time, handoff, identification by search, QR and card, 手続ナビ, forms, the tablet's confirmation,
the output — and each bad input refused with a message and no change."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from counters import services
from counters.models import CounterGroup, CounterSession, Progress, SessionEvent, SessionState, TabletPairing
from devices import signing
from devices.models import PrintJob, PrintStatus
from forms_engine.models import FormVersion
from integrations.models import ExportDocument, ExportItem, Resident
from madoguchi.audit.models import AuditAction, AuditEvent
from madoguchi.moji.csvsafe import UnsafeCsvValue
from tests.conftest import IVS_NAME
from tests.factories import PASSWORD, CounterFactory, UserFactory, atena

pytestmark = pytest.mark.django_db

PNG = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@pytest.fixture
def counter():
    return CounterFactory.create(code="shimin-1", name="市民課 1番窓口")


def _open(client: Client, counter) -> CounterSession:
    response = client.post(reverse("counters:session_open"), {"counter": counter.code})
    assert response.status_code == 302
    return CounterSession.objects.latest("opened_at")


def _post(client: Client, session: CounterSession, name: str, data: dict | None = None, **kwargs) -> str:
    session.refresh_from_db()
    payload = {"version": session.version, **(data or {})}
    response = client.post(
        reverse(f"counters:{name}", args=[session.reception_no, *kwargs.values()]), payload
    )
    assert response.status_code == 302, response.content[:500]
    return client.get(reverse("counters:session", args=[session.reception_no])).content.decode()


def _tablet(counter) -> TabletPairing:
    code = services.pairing_code_issue(counter=counter, clerk=None)
    pairing, _ = services.tablet_pair(counter_code=counter.code, code=code)
    return pairing


def test_counter_pages_need_a_clerk(counter) -> None:
    assert Client().get(reverse("counters:home")).status_code == 302
    auditor = Client()
    auditor.login(username=UserFactory(roles=["auditor"]).username, password=PASSWORD)
    assert auditor.get(reverse("counters:home")).status_code == 403


def test_reception_numbers_count_up_per_counter_and_day(clerk_client, counter) -> None:
    first, second = _open(clerk_client, counter), _open(clerk_client, counter)
    assert first.reception_no.endswith("-0001")
    assert second.reception_no.endswith("-0002")


def test_a_whole_visit_from_search_to_print_and_export(
    clerk_client,
    clerk,
    counter,
    small_city,
    navigation,
    local_storage,
    django_capture_on_commit_callbacks,
    caplog,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, every level: none may write personal data
    session = _open(clerk_client, counter)
    page = clerk_client.get(reverse("counters:session", args=[session.reception_no]), {"name": "かさい"})
    assert IVS_NAME in page.content.decode()  # shown byte-exact, variation selector included

    page = _post(clerk_client, session, "session_identify", {"atena_no": atena(1)})
    session.refresh_from_db()
    assert session.state == SessionState.IDENTIFIED and session.identified_by == "search"
    assert "手続を調べる" in page

    # 転入 with a child of 8 moving in too: 手続ナビ adds 児童手当 and 子ども医療費助成.
    page = _post(
        clerk_client,
        session,
        "session_interview",
        {
            "life_event": ["tennyu"],
            "answer_kokuho": "yes",
            "answer_inkan": "no",
            "companion_shi": [IVS_NAME, ""],
            "companion_mei": ["一太", ""],
            "companion_birth_date": ["2018-05-05", ""],
            "companion_zokugara": ["子", ""],
        },
    )
    session.refresh_from_db()
    assert session.state == SessionState.INTERVIEW
    codes = [item["code"] for item in session.procedures]
    assert "jido_teate" in codes and "kodomo_iryo" in codes and "kokuho" in " ".join(codes)
    assert "児童手当" in page

    page = _post(clerk_client, session, "session_prepare")
    session.refresh_from_db()
    assert session.state == SessionState.FORMS
    forms = {form.form_code: form for form in session.forms.all()}
    assert {"juminido", "jido_teate", "kodomo_iryo"} <= set(forms)
    assert forms["juminido"].prefilled > 3
    assert IVS_NAME in json.dumps(forms["juminido"].data, ensure_ascii=False)

    # A correction that a spreadsheet would run as a formula is refused; nothing is saved.
    phone_field = next(key for key in forms["juminido"].data if "tel" in key or "phone" in key)
    _post(clerk_client, session, "session_form_save", {f"f_{phone_field}": "=1+2"}, form="juminido")
    forms["juminido"].refresh_from_db()
    assert forms["juminido"].data[phone_field] != "=1+2" and forms["juminido"].edited_at is None
    _post(clerk_client, session, "session_form_save", {f"f_{phone_field}": "090-1234-5678"}, form="juminido")
    forms["juminido"].refresh_from_db()
    assert forms["juminido"].data[phone_field] == "090-1234-5678"

    # What no record holds, the clerk asks and types.
    for form, values in [
        ("kokuho_ido", {"f_ido_bi": "2026-11-20", "f_todokedenin_kankei": "本人"}),
        ("jido_teate", {"f_seikyusha_nenkin": "国民年金（自営業など）"}),
        ("kodomo_iryo", {"f_hogosha_kankei": "母", "f_hoken_shubetsu": "国民健康保険"}),
    ]:
        _post(clerk_client, session, "session_form_save", values, form=form)
    page = _post(clerk_client, session, "session_to_tablet")
    session.refresh_from_db()
    assert session.state == SessionState.CONFIRMING, page[page.find('class="messages"') :][:600]

    tablet = _tablet(counter)
    services.tablet_confirm(session=session, pairing=tablet, signature=PNG, version=session.version)
    session.refresh_from_db()
    assert session.state == SessionState.OUTPUT and session.progress == Progress.CONFIRMED

    with django_capture_on_commit_callbacks(execute=False):
        _post(clerk_client, session, "session_finish")
    session.refresh_from_db()
    assert session.state == SessionState.FINISHED
    assert services.session_output_run(session_id=session.pk) == "printed"
    assert services.session_output_run(session_id=session.pk) == "done"  # once only
    session.refresh_from_db()
    assert session.progress == Progress.OUTPUT and session.print_job is not None
    assert PrintJob.objects.count() == 1
    exported = set(
        ExportItem.objects.filter(reception_no=session.reception_no).values_list("kind", flat=True)
    )
    assert {"juminido", "jido_teate"} <= exported

    kinds = list(session.events.values_list("kind", flat=True))
    assert kinds[:5] == ["open", "identify", "interview", "forms", "form_edit"]
    assert kinds[-3:] == ["confirm", "finish", "output"]
    states = list(session.events.values_list("state", flat=True))
    assert SessionState.CONFIRMING in states and states[-1] == SessionState.FINISHED
    audited = AuditEvent.objects.filter(action=AuditAction.SESSION, target_ref=session.reception_no)
    assert audited.count() == len(kinds)
    assert AuditEvent.objects.filter(action=AuditAction.PRINT, target_ref=atena(1)).exists()
    # Nothing personal in the timeline.
    assert IVS_NAME not in json.dumps(
        list(session.events.values_list("detail", flat=True)), ensure_ascii=False
    )
    # Nor in any log line of the whole visit: the names, the address, the 宛名番号, the phone number typed.
    logged = caplog.text + "".join(str(record.args) for record in caplog.records)
    assert caplog.records  # the visit did log (requests, the import, the output)
    for personal in (
        IVS_NAME,
        "花子",
        "カサイ",
        "窓口市葛西町",
        "メゾン窓口",
        atena(1),
        "090-1234-5678",
        "一太",
    ):
        assert personal not in logged, personal


def test_a_second_clerk_cannot_work_the_same_session(clerk_client, counter, small_city) -> None:
    session = _open(clerk_client, counter)
    other = UserFactory(roles=["clerk"], display_name="二人目")
    other_client = Client()
    other_client.login(username=other.username, password=PASSWORD)
    page = other_client.get(reverse("counters:session", args=[session.reception_no])).content.decode()
    assert "対応中です" in page and "この人を選択" not in page
    before = session.version
    response = other_client.post(
        reverse("counters:session_identify", args=[session.reception_no]), {"atena_no": atena(1)}, follow=True
    )
    assert "対応中です" in response.content.decode()
    session.refresh_from_db()
    assert session.state == SessionState.RECEPTION and session.version == before
    with pytest.raises(services.SessionBusy):
        services.session_claim(session=session, clerk=other)


def test_handoff_keeps_the_timeline_and_waits_for_a_clerk_there(
    clerk, clerk_client, counter, small_city
) -> None:
    hoken = CounterFactory.create(code="hoken-1", name="保険年金課 1番窓口")
    session = _open(clerk_client, counter)
    _post(clerk_client, session, "session_identify", {"atena_no": atena(1)})
    clerk_client.post(
        reverse("counters:session_handoff", args=[session.reception_no]), {"counter": hoken.code}
    )
    session.refresh_from_db()
    assert session.counter == hoken and session.clerk is None and session.state == SessionState.IDENTIFIED
    second = UserFactory(roles=["clerk"])
    services.session_claim(session=session, clerk=second)
    session.refresh_from_db()
    assert session.clerk == second
    events = list(session.events.values_list("kind", "counter__code"))
    assert events == [
        ("open", counter.code),
        ("identify", counter.code),
        ("handoff", hoken.code),
        ("claim", hoken.code),
    ]
    handoff = session.events.get(kind="handoff")
    assert handoff.detail == {"from": counter.code, "to": hoken.code}


def test_a_stale_submission_is_refused(clerk, counter, small_city) -> None:
    session = services.counter_session_open(counter=counter, clerk=clerk)
    old = session.version
    services.session_identify(session=session, atena_no=atena(1), clerk=clerk, version=old)
    session.refresh_from_db()
    with pytest.raises(services.SessionStale):
        services.session_step_back(session=session, clerk=clerk, to=SessionState.RECEPTION, version=old)
    session.refresh_from_db()
    assert session.state == SessionState.IDENTIFIED


def test_a_resident_who_moved_out_or_died_is_refused(clerk, counter, small_city) -> None:
    Resident.objects.filter(atena_no=atena(2)).update(juumin_jotai="3")
    session = services.counter_session_open(counter=counter, clerk=clerk)
    with pytest.raises(services.SessionError, match="死亡により消除"):
        services.session_identify(session=session, atena_no=atena(2), clerk=clerk)
    session.refresh_from_db()
    assert session.state == SessionState.RECEPTION and session.atena_no == ""
    assert not session.events.filter(kind="identify").exists()


def test_qr_codes_identify_or_are_refused_with_their_reason(clerk, counter, small_city) -> None:
    session = services.counter_session_open(counter=counter, clerk=clerk)
    for payload, reason in [
        ("", "空です"),
        ("hello world", "形式が違います"),
        ("XYZ:1", "種類"),
        (
            f"MDG1-ATENA:{atena(1)[:-1]}9" if not atena(1).endswith("9") else f"MDG1-ATENA:{atena(1)[:-1]}8",
            "チェックデジット",
        ),
        ("MDG1-ATENA:12ab", "数字ではありません"),
    ]:
        with pytest.raises(services.SessionError, match=reason):
            services.session_qr(session=session, payload=payload, clerk=clerk)
    session.refresh_from_db()
    assert session.state == SessionState.RECEPTION
    services.session_qr(session=session, payload=f"MDG1-ATENA:{atena(1)}", clerk=clerk)
    session.refresh_from_db()
    assert session.atena_no == atena(1) and session.identified_by == "qr"


def _agent_post(client: Client, terminal, event: dict):
    body = json.dumps(event).encode()
    path = reverse("devices:agent_event")
    headers = signing.signed_headers(
        terminal=terminal.code, secret=terminal.secret, method="POST", path=path, body=body
    )
    return client.post(path, body, content_type="application/json", headers=headers)


def test_a_card_read_identifies_a_visitor_moving_in_and_forgets_the_number(
    monkeypatch, clerk, counter, small_city
) -> None:
    session = services.counter_session_open(counter=counter, clerk=clerk)
    session = services.session_card_request(session=session, clerk=clerk)
    request_id = session.card["request"]
    tablet = _tablet(counter)
    session.refresh_from_db()
    sent: list[dict[str, str]] = []
    # The broker is not the point here (tests/devices/test_card_read.py reads the real message).
    monkeypatch.setattr(services.devices, "card_read_request", lambda **kwargs: sent.append(kwargs))
    services.tablet_card_pin(session=session, pairing=tablet, pin="1234", version=session.version)
    assert sent[0]["pin"] == "1234" and sent[0]["request_id"] == request_id
    session.refresh_from_db()
    assert "1234" not in json.dumps(session.card) and session.card["status"] == "reading"

    agent = Client()
    other = CounterFactory.create().terminal
    refused = _agent_post(agent, other, {"type": "card.read", "request": request_id, "card": {"name": "x"}})
    assert refused.status_code == 403
    card = {
        "name": "窓口　花子",
        "address": "東京都千代田区霞が関一丁目1番1号",
        "birth_date": "1985-04-01",
        "sex": "2",
        "individual_number": "123456789018",
    }
    response = _agent_post(
        agent, counter.terminal, {"type": "card.read", "request": request_id, "card": card}
    )
    assert response.status_code == 200, response.content
    session.refresh_from_db()
    assert session.state == SessionState.IDENTIFIED and session.identified_by == "card"
    assert session.card["shimei"] == "窓口　花子" and session.atena_no == ""  # not in the mirror: moving in
    stored = json.dumps(list(CounterSession.objects.values()), default=str)
    stored += json.dumps(list(SessionEvent.objects.values()), default=str)
    stored += json.dumps(list(AuditEvent.objects.values()), default=str)
    assert "123456789018" not in stored and '1234"' not in stored
    # The same event again changes nothing.
    again = _agent_post(agent, counter.terminal, {"type": "card.read", "request": request_id, "card": card})
    assert again.json()["status"] == "ignored"


def test_a_wrong_pin_is_shown_with_the_retries_left(clerk, counter) -> None:
    session = services.session_card_request(
        session=services.counter_session_open(counter=counter, clerk=clerk), clerk=clerk
    )
    CounterSession.objects.filter(pk=session.pk).update(card={**session.card, "status": "reading"})
    response = _agent_post(
        Client(),
        counter.terminal,
        {"type": "card.failed", "request": session.card["request"], "reason": "wrong_pin", "retries_left": 2},
    )
    assert response.status_code == 200
    session.refresh_from_db()
    assert session.state == SessionState.RECEPTION
    assert session.card["reason"] == "wrong_pin" and session.card["retries_left"] == 2


def test_a_tablet_of_another_counter_cannot_touch_the_session(clerk, counter, small_city) -> None:
    session = services.counter_session_open(counter=counter, clerk=clerk)
    stranger = _tablet(CounterFactory.create())
    with pytest.raises(services.TabletRefused):
        services.tablet_language(session=session, pairing=stranger, language="en", version=session.version)
    session.refresh_from_db()
    assert session.language == "ja"


def test_tickets_are_called_once_each(clerk, counter) -> None:
    group = CounterGroup.objects.create(code="shimin", name="市民課", ticket_prefix="A")
    counter.group = group
    counter.save()
    second = CounterFactory.create(group=group)
    first_ticket, second_ticket = services.ticket_issue(group=group), services.ticket_issue(group=group)
    assert (first_ticket.label, second_ticket.label) == ("A001", "A002")
    one = services.ticket_call_next(counter=counter, clerk=clerk)
    two = services.ticket_call_next(counter=second, clerk=UserFactory(roles=["clerk"]))
    assert one is not None and two is not None
    assert one.ticket == first_ticket and two.ticket == second_ticket
    assert services.ticket_call_next(counter=counter, clerk=clerk) is None


def test_a_print_report_moves_the_session_on_the_clerk_screen(clerk, counter, small_city, navigation) -> None:
    session = services.counter_session_open(counter=counter, clerk=clerk)
    job = PrintJob.objects.create(terminal=counter.terminal, title="t", requested_by=clerk)
    CounterSession.objects.filter(pk=session.pk).update(print_job=job, state=SessionState.FINISHED)
    before = CounterSession.objects.get(pk=session.pk).version
    from devices.services import print_job_report

    print_job_report(terminal=counter.terminal, job_id=job.pk, ok=True)
    session.refresh_from_db()
    job.refresh_from_db()
    assert session.version == before + 1 and job.status == PrintStatus.PRINTED


def test_guessing_a_pairing_code_voids_it(counter) -> None:
    code = services.pairing_code_issue(counter=counter, clerk=None)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(services.PAIRING_MAX_FAILURES):
        with pytest.raises(services.TabletRefused):
            services.tablet_pair(counter_code=counter.code, code=wrong)
    with pytest.raises(services.TabletRefused):
        services.tablet_pair(counter_code=counter.code, code=code)  # the right code, too late
    assert not TabletPairing.objects.exists()
    services.tablet_pair(
        counter_code=counter.code, code=services.pairing_code_issue(counter=counter, clerk=None)
    )
    assert TabletPairing.objects.count() == 1


def test_the_tablet_follows_the_card_read_it_started(clerk, counter) -> None:
    from counters.selectors import tablet_session

    tablet = _tablet(counter)
    session = services.session_card_request(
        session=services.counter_session_open(counter=counter, clerk=clerk), clerk=clerk
    )
    assert tablet_session(pairing=tablet) == session  # the PIN pad
    CounterSession.objects.filter(pk=session.pk).update(
        card={
            **session.card,
            "pin_requested": False,
            "status": "failed",
            "reason": "wrong_pin",
            "retries_left": 2,
        }
    )
    assert tablet_session(pairing=tablet) == session  # the failure, with the tries left
    again = services.session_card_request(session=session, clerk=clerk)
    assert again.card["retries_left"] == 2 and again.card["pin_requested"]


def test_the_longest_counter_code_still_makes_a_reception_number(clerk) -> None:
    counter = CounterFactory.create(code="c" * 32)
    session = services.counter_session_open(counter=counter, clerk=clerk)
    session.refresh_from_db()
    assert session.reception_no.endswith(f"-{'c' * 32}-0001")
    for model in (CounterSession, ExportItem):  # SQLite does not enforce lengths; PostgreSQL would refuse
        assert len(session.reception_no) <= (model._meta.get_field("reception_no").max_length or 0)


def test_a_reception_returned_before_its_interview_can_be_interviewed(
    clerk, counter, small_city, navigation
) -> None:
    session = services.counter_session_open(counter=counter, clerk=clerk)
    services.session_identify(session=session, atena_no=atena(1), clerk=clerk)
    services.session_return(session=session, clerk=clerk, reason="書類の確認")
    session.refresh_from_db()
    services.session_interview(session=session, clerk=clerk, life_events=["tennyu"], answers={})
    session.refresh_from_db()
    assert session.state == SessionState.INTERVIEW


def test_an_unknown_step_is_refused_with_a_message(clerk, counter) -> None:
    session = services.counter_session_open(counter=counter, clerk=clerk)
    with pytest.raises(services.SessionError, match="ありません"):
        services.session_step_back(session=session, clerk=clerk, to="nowhere")


def test_a_late_card_read_keeps_the_step(clerk, counter, small_city) -> None:
    session = services.session_card_request(
        session=services.counter_session_open(counter=counter, clerk=clerk), clerk=clerk
    )
    request_id = session.card["request"]
    CounterSession.objects.filter(pk=session.pk).update(card={**session.card, "status": "reading"})
    services.session_identify(session=session, atena_no=atena(1), clerk=clerk)
    CounterSession.objects.filter(pk=session.pk).update(state=SessionState.INTERVIEW)
    CounterSession.objects.filter(pk=session.pk).update(card={**session.card, "status": "reading"})
    card = {"name": "窓口　花子", "birth_date": "1985-04-01", "sex": "2", "address": "x"}
    response = _agent_post(
        Client(), counter.terminal, {"type": "card.read", "request": request_id, "card": card}
    )
    assert response.status_code == 200
    session.refresh_from_db()
    assert session.state == SessionState.INTERVIEW and session.atena_no == atena(1)


def test_a_revoked_tablet_is_refused_even_with_its_old_pairing(clerk, counter) -> None:
    session = services.counter_session_open(counter=counter, clerk=clerk)
    tablet = _tablet(counter)
    services.tablet_revoke(pairing=TabletPairing.objects.get(pk=tablet.pk), actor=clerk)
    with pytest.raises(services.TabletRefused):
        services.tablet_language(session=session, pairing=tablet, language="en", version=session.version)


def _interviewed_for_tennyu(clerk, counter) -> CounterSession:
    """A session at 聞き取り: resident 1 identified, 転入 with 国保."""
    session = services.counter_session_open(counter=counter, clerk=clerk)
    services.session_identify(session=session, atena_no=atena(1), clerk=clerk)
    session.refresh_from_db()
    services.session_interview(
        session=session, clerk=clerk, life_events=["tennyu"], answers={"kokuho": "yes"}
    )
    session.refresh_from_db()
    return session


def test_a_failed_output_exports_nothing_and_waits_for_the_clerk(
    clerk, counter, small_city, navigation, monkeypatch
) -> None:
    session = _interviewed_for_tennyu(clerk, counter)
    services.session_forms_prepare(session=session, clerk=clerk)
    CounterSession.objects.filter(pk=session.pk).update(
        state=SessionState.FINISHED, finished_at=timezone.now() - dt.timedelta(minutes=5)
    )

    def put_then_refuse(**kwargs):
        real_put(**kwargs)  # rows and the PDF stored …
        raise UnsafeCsvValue("=cmd")  # … then a later check refuses

    real_put = services.outbox_put
    monkeypatch.setattr(services, "outbox_put", put_then_refuse)
    assert services.session_output_run(session_id=session.pk) == "failed"
    # Everything the output stored rolled back.
    assert not ExportItem.objects.filter(reception_no=session.reception_no).exists()
    assert not ExportDocument.objects.filter(reception_no=session.reception_no).exists()
    session.refresh_from_db()
    assert services.output_failed(session) and session.print_job is None
    assert services.sessions_output_redispatch() == 0  # not retried by a machine
    services.session_reprint(session=session, clerk=clerk)
    session.refresh_from_db()
    assert not services.output_failed(session)


def test_prepare_with_a_form_not_in_effect_names_it_and_creates_no_forms(
    clerk, counter, small_city, navigation
) -> None:
    session = _interviewed_for_tennyu(clerk, counter)
    FormVersion.objects.filter(template__code="kokuho_ido").update(effective_to=dt.date(2000, 3, 31))
    with pytest.raises(services.SessionError, match="様式 kokuho_ido は公開されていないか、適用期間外です"):
        services.session_forms_prepare(session=session, clerk=clerk)
    session.refresh_from_db()
    assert session.state == SessionState.INTERVIEW and not session.forms.exists()
