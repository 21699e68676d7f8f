"""The auditor's page: only auditors, filters, paging, CSV export (itself audited), hostile input escaped."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from django.urls import reverse

from madoguchi.audit.models import AuditAction, AuditEvent
from madoguchi.audit.services import audit_chain, audit_record
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db
URL = reverse("audit:events")


def _client(*roles: str) -> tuple[Client, object]:
    user = UserFactory.create(roles=list(roles))
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client, user


@pytest.fixture
def seen() -> None:
    clerk = UserFactory.create(username="clerk-a", roles=["clerk"])
    for n in range(60):
        audit_record(actor=clerk, action=AuditAction.VIEW, target_type="resident", target_ref=f"{100000 + n}")
    audit_record(actor=None, action=AuditAction.PRINT, target_type="reception", target_ref="R1")
    audit_chain()


def test_only_an_auditor_opens_the_audit_log(seen: None) -> None:
    assert Client().get(URL).status_code == 302  # to the login page
    for role in ("clerk", "supervisor", "form_admin", "system_admin"):
        client, _ = _client(role)
        assert client.get(URL).status_code == 403, role
    auditor, _ = _client("auditor")
    page = auditor.get(URL)
    assert page.status_code == 200 and "監査ログ" in page.content.decode()


def test_filters_and_pages(seen: None) -> None:
    auditor, _ = _client("auditor")
    page = auditor.get(URL, {"actor": "clerk-a", "action": "view"}).content.decode()
    assert "60 件" in page and "1 / 2" in page and "100059" in page
    assert (
        "<td>R1</td>" not in auditor.get(URL, {"action": "view"}).content.decode()
    )  # (a CSRF token may hold "R1")
    second = auditor.get(URL, {"actor": "clerk-a", "action": "view", "page": "2"}).content.decode()
    assert "100000" in second and "100059" not in second
    one = auditor.get(URL, {"target_ref": "R1"}).content.decode()
    assert "1 件" in one and "system" in one
    # The search is audited by the kinds of filter used, not their values.
    record = (
        AuditEvent.objects.filter(target_type="audit_log", action=AuditAction.SEARCH).order_by("pk").last()
    )
    assert record is not None and record.detail == {"filters": ["target_ref"]}


def test_an_impossible_range_is_refused_with_a_message(seen: None) -> None:
    auditor, _ = _client("auditor")
    response = auditor.get(URL, {"since": "2026-12-08", "until": "2026-12-01"})
    assert response.status_code == 400 and "開始日が終了日より後です" in response.content.decode()
    assert auditor.get(URL, {"since": "2026-02-30"}).status_code == 400


def test_the_export_is_the_filtered_records_as_csv_and_is_audited(seen: None) -> None:
    auditor, user = _client("auditor")
    response = auditor.get(URL, {"target_type": "resident", "format": "csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    rows = list(csv.reader(io.StringIO(body.decode(), newline="")))
    assert rows[0][:5] == ["日時", "操作者", "操作", "対象種別", "対象"]
    assert len(rows) == 61 and {row[3] for row in rows[1:]} == {"resident"}
    assert all(len(row[6]) == 64 for row in rows[1:])  # each with its chain hash
    record = AuditEvent.objects.get(target_type="audit_log", action=AuditAction.EXPORT)
    assert record.actor == user and record.detail == {"filters": ["target_type"], "rows": 60}


def test_hostile_values_are_shown_escaped(seen: None) -> None:
    audit_record(
        actor=None, action=AuditAction.ADMIN, target_type="x", target_ref="<script>alert(1)</script>"
    )
    auditor, _ = _client("auditor")
    page = auditor.get(URL).content.decode()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert auditor.get(URL, {"actor": "' OR 1=1 --"}).status_code == 200
