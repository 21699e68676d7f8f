"""Roles the city configures: capabilities per group, department scope, and the matrix of role × page/API.

The matrix walks every route of the staff screens (a new route fails ``test_every_staff_route_is_in_the_matrix``
until it is given its roles here), so a page cannot ship without a decision on who may open it."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from counters import services as counter_services
from counters import stats
from counters.models import CounterSession
from madoguchi.accounts.models import User
from madoguchi.accounts.roles import Role, has_role
from tests.factories import PASSWORD, CounterFactory, UserFactory

pytestmark = pytest.mark.django_db

CLERK, SUPERVISOR, FORM_ADMIN, SYSTEM_ADMIN, AUDITOR = (role.value for role in Role)
SIGNED_IN = frozenset(role.value for role in Role)

# Which roles reach each route family (by namespace, or namespace:name where it differs).
MATRIX: dict[str, frozenset[str]] = {
    "counters": frozenset({CLERK}),
    "stats": frozenset({SUPERVISOR}),
    "navigation": frozenset({FORM_ADMIN}),
    "forms_engine": frozenset({FORM_ADMIN}),
    "audit": frozenset({AUDITOR}),
    "devices:status": frozenset({SUPERVISOR, SYSTEM_ADMIN}),
    "devices:terminal_create": frozenset({SYSTEM_ADMIN}),
    "devices:terminal_code_issue": frozenset({SYSTEM_ADMIN}),
    "devices:terminal_disable": frozenset({SYSTEM_ADMIN}),
    "devices:terminal_enable": frozenset({SYSTEM_ADMIN}),
    "accounts:card_login_bind": frozenset({SYSTEM_ADMIN}),
    "accounts:card_pin": SIGNED_IN,
    "accounts:otp_verify": SIGNED_IN,
    "accounts:otp_setup": SIGNED_IN,
    "staff": frozenset({SYSTEM_ADMIN}),
}
# Routes not for signed-in staff by role: the login pages, the tablet (its pairing is its key), the agent's API
# (signed by its terminal), the admin site (is_staff and model permissions), the health check. The security suite
# (tests/test_security.py) covers how each of those refuses a stranger.
OTHER_GATES = {
    "accounts:login",
    "accounts:logout",
    "accounts:card_login",
    "accounts:card_login_events",
    "accounts:card_login_pin",
    "devices:register",
    "devices:print_job_pdf",
    "devices:print_job_receipt",
    "devices:agent_event",
    "tablet",
    "admin",
    ":healthz",
}
# Values for the routes' parameters: none of them exists, so a role that gets through sees a 404, never data.
KWARGS = {
    "code": "nosuch",
    "number": 1,
    "key": "nosuch",
    "page": 1,
    "name": "nosuch",
    "pk": 999999,
    "tablet_id": 999999,
    "reception_no": "nosuch",
    "form_code": "nosuch",
    "day": "2026-12-01",
    "year": "2026",
    "month": "12",
    "batch_id": 999999,
}


def _routes() -> list[tuple[str, str, list[str]]]:
    """(namespace, name, parameter names) of every named route."""
    found: list[tuple[str, str, list[str]]] = []

    def walk(patterns: list, namespace: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern) and pattern.name:
                found.append((namespace, pattern.name, list(pattern.pattern.regex.groupindex)))

    walk(get_resolver().url_patterns, "")
    return found


def _gate(namespace: str, name: str) -> frozenset[str] | None:
    return MATRIX.get(f"{namespace}:{name}", MATRIX.get(namespace))


def _other(namespace: str, name: str) -> bool:
    return namespace in OTHER_GATES or f"{namespace}:{name}" in OTHER_GATES


STAFF_ROUTES = [
    (f"{namespace}:{name}", params)
    for namespace, name, params in _routes()
    if not _other(namespace, name) and _gate(namespace, name) is not None
]


def test_every_staff_route_is_in_the_matrix() -> None:
    unplaced = [
        f"{namespace}:{name}"
        for namespace, name, _params in _routes()
        if not _other(namespace, name) and _gate(namespace, name) is None
    ]
    assert unplaced == [], "give these routes their roles in MATRIX (or OTHER_GATES)"
    assert len(STAFF_ROUTES) > 60


def _client(*roles: str, **fields: str) -> tuple[Client, User]:
    user = UserFactory.create(roles=list(roles), **fields)
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client, user


def _ask(client: Client, route: str, params: list[str]) -> int:
    """The status of GET, or of an empty POST where the route takes POST only."""
    url = reverse(route, kwargs={param: KWARGS[param] for param in params})
    response = client.get(url)
    if response.status_code == 405:
        response = client.post(url, {})
    if response.status_code == 302 and "/accounts/login/" in response["Location"]:
        return 401  # sent to log in
    return response.status_code


def matrix_mismatches(client: Client, role: str) -> list[str]:
    """Every staff route where ``client`` (signed in with ``role``) is not answered as MATRIX says."""
    wrong: list[str] = []
    for route, params in STAFF_ROUTES:
        namespace, name = route.split(":")
        allowed = role in (_gate(namespace, name) or ())
        status = _ask(client, route, params)
        if allowed and status in (401, 403):
            wrong.append(f"{route}: refused ({status}) but {role} may open it")
        if not allowed and status != 403:
            wrong.append(f"{route}: {status} but {role} must be refused")
    return wrong


@pytest.mark.parametrize("role", sorted(SIGNED_IN))
def test_matrix_each_role_reaches_its_pages_and_is_refused_the_rest(role: str) -> None:
    client, _user = _client(role)
    assert matrix_mismatches(client, role) == []


def test_matrix_a_stranger_is_sent_to_log_in_everywhere() -> None:
    client = Client()
    opened = [route for route, params in STAFF_ROUTES if _ask(client, route, params) not in (401, 403)]
    assert opened == []


def test_an_inactive_user_holds_no_role() -> None:
    _unused, user = _client(CLERK)
    user.is_active = False
    user.save()
    assert not has_role(user, Role.CLERK)


# --- the city configures roles in the browser -------------------------------------------------------------


def _capability(codename: str) -> Permission:
    return Permission.objects.get(content_type__app_label="accounts", codename=codename)


def test_the_city_makes_its_own_role_in_the_admin_and_it_takes_effect() -> None:
    admin = Client()
    admin.force_login(UserFactory.create(is_staff=True, is_superuser=True))
    response = admin.post(
        reverse("admin:auth_group_add"),
        {
            "name": "窓口リーダー",
            "capabilities": [_capability("serve_counter").pk, _capability("supervise").pk],
        },
    )
    assert response.status_code == 302, response.content.decode()[:500]
    page = admin.get(reverse("admin:auth_group_changelist")).content.decode()
    assert "窓口リーダー" in page and "窓口で受付する" in page
    leader, _user = _client("窓口リーダー")
    assert leader.get(reverse("counters:home")).status_code == 200
    assert leader.get(reverse("stats:today")).status_code == 200
    assert leader.get(reverse("forms_engine:index")).status_code == 403
    assert leader.get(reverse("audit:events")).status_code == 403


def test_taking_a_capability_from_a_built_in_group_takes_it_from_its_members() -> None:
    clerk, user = _client(CLERK)
    assert clerk.get(reverse("counters:home")).status_code == 200
    admin = Client()
    admin.force_login(UserFactory.create(is_staff=True, is_superuser=True))
    group = Group.objects.get(name=CLERK)
    form = admin.get(reverse("admin:auth_group_change", args=[group.pk])).content.decode()
    assert f'value="{_capability("serve_counter").pk}"' in form  # shown as a checkbox of its own
    other = Permission.objects.get(codename="view_counter")
    response = admin.post(
        reverse("admin:auth_group_change", args=[group.pk]), {"name": CLERK, "permissions": [other.pk]}
    )
    assert response.status_code == 302
    assert set(group.permissions.values_list("codename", flat=True)) == {"view_counter"}
    assert clerk.get(reverse("counters:home")).status_code == 403
    assert not has_role(User.objects.get(pk=user.pk), Role.CLERK)


def test_a_missing_built_in_group_comes_back_with_its_capability_but_edits_are_kept() -> None:
    from madoguchi.accounts.apps import builtin_roles_ensure

    Group.objects.get(name=AUDITOR).delete()
    Group.objects.get(name=CLERK).permissions.add(_capability("supervise"))
    builtin_roles_ensure()
    assert set(Group.objects.get(name=AUDITOR).permissions.values_list("codename", flat=True)) == {
        "read_audit"
    }
    assert set(Group.objects.get(name=CLERK).permissions.values_list("codename", flat=True)) == {
        "serve_counter",
        "supervise",
    }


# --- department scope -------------------------------------------------------------------------------------


@pytest.fixture
def two_departments() -> dict[str, object]:
    shimin = CounterFactory.create(code="shimin-1", department="市民課")
    hoken = CounterFactory.create(code="hoken-1", department="保険年金課")
    shared = CounterFactory.create(code="sogo-1", department="")
    hoken_clerk = UserFactory.create(roles=[CLERK], department="保険年金課")
    return {
        "shimin": shimin,
        "hoken": hoken,
        "shared": shared,
        "hoken_session": counter_services.counter_session_open(counter=hoken, clerk=hoken_clerk),
    }


def test_a_clerk_works_only_at_counters_of_their_department(two_departments) -> None:
    client, _user = _client(CLERK, department="市民課")
    hoken_session: CounterSession = two_departments["hoken_session"]
    home = client.get(reverse("counters:home")).content.decode()
    assert "shimin-1" in home and "sogo-1" in home and "hoken-1" not in home
    assert client.get(reverse("counters:desk", args=["shimin-1"])).status_code == 200
    assert client.get(reverse("counters:desk", args=["sogo-1"])).status_code == 200  # shared counter
    assert client.get(reverse("counters:desk", args=["hoken-1"])).status_code == 403
    assert client.get(reverse("counters:desk_events", args=["hoken-1"])).status_code == 403
    assert client.post(reverse("counters:session_open"), {"counter": "hoken-1"}).status_code == 403
    for route in ("counters:session", "counters:session_events", "counters:session_form_pdf"):
        assert client.get(reverse(route, args=[hoken_session.reception_no])).status_code == 403, route
    assert (
        client.post(reverse("counters:session_claim", args=[hoken_session.reception_no])).status_code == 403
    )
    hoken_session.refresh_from_db()
    assert hoken_session.clerk is not None and hoken_session.clerk.department == "保険年金課"


def test_all_departments_or_no_department_is_city_wide(two_departments) -> None:
    hoken_session: CounterSession = two_departments["hoken_session"]
    city_wide, _user = _client(CLERK)  # no 所属
    assert city_wide.get(reverse("counters:session", args=[hoken_session.reception_no])).status_code == 200
    Group.objects.create(name="全課").permissions.add(_capability("all_departments"))
    roaming, _user = _client(CLERK, "全課", department="市民課")
    assert roaming.get(reverse("counters:session", args=[hoken_session.reception_no])).status_code == 200


def test_a_supervisor_counts_only_their_department(two_departments) -> None:
    from django.utils import timezone

    shimin_clerk = UserFactory.create(roles=[CLERK], department="市民課")
    counter_services.counter_session_open(counter=two_departments["shimin"], clerk=shimin_clerk)
    today = timezone.localdate()
    assert stats.day_summary(day=today).total.visits == 2
    assert stats.day_summary(day=today, department="市民課").total.visits == 1
    client, _user = _client(SUPERVISOR, department="保険年金課")
    board = client.get(reverse("stats:today")).content.decode()
    hoken_no = two_departments["hoken_session"].reception_no
    assert f'data-reception="{hoken_no}"' in board
    assert board.count("data-reception=") == 1


def test_printing_is_refused_when_the_clerk_lost_the_role_before_the_task_ran(two_departments) -> None:
    session: CounterSession = two_departments["hoken_session"]
    CounterSession.objects.filter(pk=session.pk).update(state="finished")
    clerk = session.clerk
    assert clerk is not None
    clerk.groups.clear()
    assert counter_services.session_output_run(session_id=session.pk) == "failed"
    session.refresh_from_db()
    assert session.print_job_id is None
    assert session.events.filter(kind="output_failed", detail__error="clerk not permitted").exists()
