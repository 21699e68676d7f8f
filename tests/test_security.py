"""The security suite: each way in that a stranger, a wrong role, another counter's tablet, a forged agent, a hostile
file name, a hostile name or a hostile search could try — each refused or escaped.

Other suites go deeper on single parts: the role × route matrix (tests/madoguchi/test_roles.py), the agent API's
signatures and replays (tests/devices/test_security.py), headers and CSP (tests/test_hardening.py), rate limits
(tests/test_throttle.py), the password lockout and one-time codes (tests/madoguchi/test_login_lockout.py,
test_second_factor.py), personal data in logs (tests/counters/test_visit.py). This file runs the attacks end to
end, with one-time codes on as in production.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from counters.models import Counter, CounterSession, SessionState, TabletPairing
from counters.navigation import navigation_seed_load
from counters.services import pairing_code_issue
from devices.models import AgentEvent
from integrations.models import Resident
from madoguchi.accounts.models import CardLogin, StaffUpdate, User
from madoguchi.audit.models import AuditEvent
from tests.conftest import import_file
from tests.devices.signed import signed_post
from tests.factories import PASSWORD, CounterFactory, TerminalFactory, UserFactory, atena, juki_csv, juki_row
from tests.madoguchi.test_roles import KWARGS, STAFF_ROUTES, _ask, _routes, matrix_mismatches

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


@pytest.fixture
def navigation(starter_forms: None) -> dict[str, int]:
    return navigation_seed_load()


@pytest.fixture(autouse=True)
def _production_logins(settings: Any) -> None:
    settings.MADOGUCHI_OTP_REQUIRED = True


def _signed_in(*roles: str, **fields: Any) -> tuple[Client, User]:
    """A user of ``roles`` logged in with the password and, where the role needs it, a verified one-time code."""
    user = UserFactory.create(roles=list(roles), **fields)
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    device = TOTPDevice.objects.create(user=user, name="app", confirmed=True)
    session = client.session
    session["otp_device_id"] = device.persistent_id  # what django_otp.login stores once a code was right
    session.save()
    return client, user


# --- a stranger ---------------------------------------------------------------------------------------------

# Pages a stranger may open: the logins and logouts, the tablet's pairing page (its pairing is its key), the agent's
# registration (its one-time code is its key: without one it is a 400), the health check.
PUBLIC = {
    "accounts:login",
    "admin:logout",
    "devices:register",
    "accounts:card_login",
    "tablet:index",
    "tablet:pair",
    "admin:login",
    ":healthz",
}
EXTRA_KWARGS = {
    "object_id": "1",
    "content_type_id": "1",
    "url": "nosuch",
    "app_label": "auth",
    "id": "1",
    "job_id": 999999,
}


def test_a_stranger_gets_nothing_anywhere(small_city) -> None:
    stranger = Client()
    opened: list[str] = []
    for namespace, name, params in _routes():
        route = f"{namespace}:{name}"
        if route in PUBLIC:
            continue
        kwargs = {param: {**KWARGS, **EXTRA_KWARGS}[param] for param in params}
        url = reverse(route if namespace else name, kwargs=kwargs)
        for method in (stranger.get, stranger.post):
            response = method(url)
            location = response.get("Location", "")
            if response.status_code in (401, 403, 404, 405) or "login" in location:
                continue
            opened.append(f"{route} {method.__name__}: {response.status_code} {location}")
    assert opened == [], opened


def test_the_public_pages_show_no_resident(small_city) -> None:
    stranger = Client()
    for route in ("accounts:login", "accounts:card_login", "tablet:index", "tablet:pair"):
        page = stranger.get(reverse(route)).content.decode()
        assert "山田" not in page and atena(1) not in page, route


# --- every wrong role ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["clerk", "supervisor", "form_admin", "system_admin", "auditor"])
def test_every_wrong_role_is_refused_with_codes_on(role: str) -> None:
    client, _user = _signed_in(role)
    assert matrix_mismatches(client, role) == []


def test_an_admin_without_the_code_reaches_nothing_but_the_code_page() -> None:
    user = UserFactory.create(roles=["system_admin"])
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    for route, params in STAFF_ROUTES:
        if route.startswith("accounts:otp_"):
            continue
        status = _ask(client, route, params)
        assert status in (302, 403), route  # to the code page, or refused
    assert not StaffUpdate.objects.exists()


def test_a_forged_cross_site_post_is_refused() -> None:
    client, _user = _signed_in("clerk")
    counter = CounterFactory.create()
    forged = Client(enforce_csrf_checks=True)
    forged.cookies = client.cookies  # the clerk's session cookie, without the page's CSRF token
    response = forged.post(reverse("counters:session_open"), {"counter": counter.code})
    assert response.status_code == 403
    assert not CounterSession.objects.exists()


# --- another counter's tablet -------------------------------------------------------------------------------


def _confirming_session(clerk_client: Client, counter: Counter) -> CounterSession:
    """A visit taken to the resident's tablet for 住民確認 (search, identify, interview, forms, to the tablet)."""
    clerk_client.post(reverse("counters:session_open"), {"counter": counter.code})
    session = CounterSession.objects.latest("opened_at")

    def post(name: str, data: dict[str, Any] | None = None) -> None:
        session.refresh_from_db()
        response = clerk_client.post(
            reverse(f"counters:{name}", args=[session.reception_no]),
            {"version": session.version, **(data or {})},
        )
        assert response.status_code == 302, name

    post("session_identify", {"atena_no": atena(1)})
    post("session_interview", {"life_event": ["tennyu"], "answer_kokuho": "no", "answer_inkan": "no"})
    post("session_prepare")
    post("session_to_tablet")
    session.refresh_from_db()
    assert session.state == SessionState.CONFIRMING
    return session


def _paired(counter: Counter) -> Client:
    tablet = Client()
    code = pairing_code_issue(counter=counter, clerk=None)
    response = tablet.post(reverse("tablet:pair"), {"counter": counter.code, "code": code})
    assert response.status_code == 302
    return tablet


def test_another_counters_tablet_sees_and_changes_nothing(hostile_city, navigation) -> None:
    clerk, _user = _signed_in("clerk")
    counter, other = CounterFactory.create(), CounterFactory.create()
    session = _confirming_session(clerk, counter)
    own, stranger = _paired(counter), _paired(other)
    assert ESCAPED in own.get(reverse("tablet:screen")).content.decode()  # its own tablet shows the visit

    screen = stranger.get(reverse("tablet:screen")).content.decode()
    assert session.reception_no not in screen and "alert" not in screen
    for route, body in (
        ("tablet:language", {"language": "en"}),
        ("tablet:confirm", {"signature": "data:image/png;base64,iVBORw0KGgo="}),
        ("tablet:pin", {"pin": "1234"}),
    ):
        payload = {"reception_no": session.reception_no, "version": session.version, **body}
        response = stranger.post(reverse(route), json.dumps(payload), content_type="application/json")
        assert response.status_code == 403, route
    session.refresh_from_db()
    assert session.state == SessionState.CONFIRMING and session.language == "ja" and not session.signature

    # A revoked tablet, and a made-up pairing cookie, are refused too.
    TabletPairing.objects.filter(counter=counter).update(revoked_at=session.opened_at)
    assert own.get(reverse("tablet:screen")).status_code == 403
    forged = Client()
    forged.cookies["madoguchi_tablet"] = uuid.uuid4().hex
    assert forged.get(reverse("tablet:screen")).status_code == 403


# --- a forged agent event -----------------------------------------------------------------------------------


def test_forged_agent_events_are_refused_and_change_nothing() -> None:
    terminal, other = TerminalFactory.create(), TerminalFactory.create()
    client = Client()
    tap = {"type": "staff.tapped", "id": uuid.uuid4().hex, "card_id": "04A23B1C5D6E80"}
    path = reverse("devices:agent_event")

    unsigned = client.post(path, json.dumps(tap), content_type="application/json")
    assert unsigned.status_code in (401, 403)
    assert signed_post(client, terminal, tap, secret="not-the-secret").status_code in (401, 403)
    assert signed_post(client, terminal, tap, secret=other.secret).status_code in (401, 403)  # another's key
    terminal.enabled = False
    terminal.save()
    assert signed_post(client, terminal, {**tap, "id": uuid.uuid4().hex}).status_code == 403
    assert not CardLogin.objects.exists() and not AgentEvent.objects.exists()


# --- hostile file names -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../../../../etc/cron.d/x.csv", "..\\..\\windows\\x.csv", "a/../../b.csv"])
def test_an_uploaded_staff_file_with_a_path_in_its_name_stays_a_name(name: str) -> None:
    client, _user = _signed_in("system_admin")
    body = "職員番号,氏名,所属,役割,異動日\r\n3001,新人,市民課,clerk,2027-04-01\r\n".encode()
    response = client.post(reverse("staff:index"), {"file": SimpleUploadedFile(name, body)})
    assert response.status_code == 302
    stored = StaffUpdate.objects.get().filename
    assert stored == name.replace("\\", "/").rsplit("/", 1)[-1]  # the last part only, nothing of the path


def test_an_imported_form_file_with_a_path_in_its_name_is_only_named() -> None:
    from forms_engine.models import FormTemplate

    client, _user = _signed_in("form_admin")
    upload = SimpleUploadedFile("../../../madoguchi/settings.py", b'{"not": "a form"}')
    response = client.post(reverse("forms_engine:template_import"), {"file": upload})
    assert response.status_code == 400
    page = response.content.decode()
    assert "settings.py" in page and "../" not in page  # the request's parser keeps the last part only
    assert not FormTemplate.objects.exists()


# --- hostile names shown everywhere ----------------------------------------------------------------------------


@pytest.fixture
def hostile_city(local_storage) -> None:
    """A resident whose name, kana-free 方書 and household head carry a script tag."""
    row = juki_row(
        1,
        **{
            "氏": SCRIPT,
            "名": "太郎",
            "世帯主氏名": SCRIPT,
            "方書": SCRIPT,
            "氏カナ": "ヤマダ",
            "名カナ": "タロウ",
        },
    )
    import_file(local_storage, juki_csv([row]))
    assert Resident.objects.filter(atena_no=atena(1)).exists()


def test_a_script_in_a_residents_name_is_shown_as_text_everywhere(hostile_city, navigation) -> None:
    clerk, _user = _signed_in("clerk")
    counter = CounterFactory.create()
    session = _confirming_session(clerk, counter)
    pages = {
        "search": clerk.get(reverse("counters:session", args=[session.reception_no]), {"name": "ヤマダ"}),
        "session": clerk.get(reverse("counters:session", args=[session.reception_no])),
        "tablet": _paired(counter).get(reverse("tablet:screen")),
        "desk": clerk.get(reverse("counters:desk", args=[counter.code])),
    }
    for where, response in pages.items():
        page = response.content.decode()
        assert response.status_code == 200, where
        assert SCRIPT not in page, where
    assert ESCAPED in pages["session"].content.decode() and ESCAPED in pages["tablet"].content.decode()


def test_a_script_in_staff_counter_and_form_names_is_shown_as_text(navigation) -> None:
    clerk, _user = _signed_in("clerk", display_name=SCRIPT)
    counter = CounterFactory.create(name=SCRIPT)
    clerk.post(reverse("counters:session_open"), {"counter": counter.code})
    session = CounterSession.objects.latest("opened_at")
    supervisor, _s = _signed_in("supervisor")
    auditor, _a = _signed_in("auditor")
    AuditEvent.objects.create(
        actor=None, actor_label=SCRIPT, action="view", target_type=SCRIPT, target_ref=SCRIPT
    )
    pages = {
        "home": clerk.get(reverse("counters:home")),
        "desk": clerk.get(reverse("counters:desk", args=[counter.code])),
        "session": clerk.get(reverse("counters:session", args=[session.reception_no])),
        "stats": supervisor.get(reverse("stats:today")),
        "audit": auditor.get(reverse("audit:events"), {"target_type": SCRIPT}),
    }
    for where, response in pages.items():
        page = response.content.decode()
        assert response.status_code == 200, where
        assert SCRIPT not in page, where
    assert ESCAPED in pages["home"].content.decode() and ESCAPED in pages["audit"].content.decode()


# --- hostile searches ---------------------------------------------------------------------------------------

HOSTILE = [
    "' OR '1'='1",
    "%",
    "_",
    "%%",
    "\\",
    "'; DROP TABLE intake_resident; --",
    "山田\x00",
    ".*",
    "(((((((",
    SCRIPT,
    "ヤ" * 5000,
    "\U0010ffff",
]


@pytest.mark.parametrize("typed", HOSTILE)
def test_hostile_resident_searches_find_nothing_and_break_nothing(small_city, typed: str) -> None:
    clerk, _user = _signed_in("clerk")
    counter = CounterFactory.create()
    clerk.post(reverse("counters:session_open"), {"counter": counter.code})
    session = CounterSession.objects.latest("opened_at")
    url = reverse("counters:session", args=[session.reception_no])
    for field in ("name", "address", "atena_no", "birth"):
        response = clerk.get(url, {field: typed})
        assert response.status_code in (200, 400), (field, response.status_code)
        page = response.content.decode()
        assert atena(1) not in page and atena(2) not in page, (field, typed)  # no wildcard finds everyone
        assert SCRIPT not in page


@pytest.mark.parametrize("typed", HOSTILE)
def test_hostile_audit_filters_are_answered_not_crashed(typed: str) -> None:
    auditor, _user = _signed_in("auditor")
    for field in ("actor", "target_type", "target_ref", "action", "since", "until"):
        response = auditor.get(reverse("audit:events"), {field: typed})
        assert response.status_code in (200, 400), (field, response.status_code)
        assert SCRIPT not in response.content.decode()
