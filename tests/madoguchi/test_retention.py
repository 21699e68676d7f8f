"""Retention and erasure per kind of data, from one table (madoguchi/operations/retention.py)."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import replace
from typing import Any

import pytest
from axes.models import AccessAttempt, AccessLog
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from counters import services as counter_services
from counters import stats
from counters.models import CounterSession, SessionEvent, SessionForm
from integrations.models import ExportBatch, ExportItem, ExportStatus
from integrations.outbound import ExportRows, export_flush, outbox_put
from integrations.storage import LocalFolderStorage
from madoguchi.accounts.models import CardLogin
from madoguchi.audit.models import AuditEvent
from madoguchi.operations import retention
from tests.conftest import database_dump
from tests.factories import CounterFactory, TerminalFactory, UserFactory

pytestmark = pytest.mark.django_db

RESIDENT = "住民　太郎"
ADDRESS = "窓口市本町1-1"


def _visit(opened_days_ago: int) -> CounterSession:
    counter = CounterFactory.create()
    session = counter_services.counter_session_open(
        counter=counter, clerk=UserFactory.create(roles=["clerk"])
    )
    SessionForm.objects.create(
        session=session,
        form_code="juminido",
        form_version=1,
        name="住民異動届",
        signing="tablet",
        data={"name": RESIDENT, "address": ADDRESS},
    )
    SessionEvent.objects.filter(session=session).update(detail={"note": RESIDENT})
    opened = timezone.now() - dt.timedelta(days=opened_days_ago)
    CounterSession.objects.filter(pk=session.pk).update(
        opened_at=opened,
        atena_no="000000000000018",
        answers={"moving_from": ADDRESS},
        signature="data:image/png;base64,AAAA",
        card={"name": RESIDENT},
        state="finished",
        progress="done",
        finished_at=opened,
    )
    return session


def test_sessions_past_their_days_lose_the_residents_data_but_still_count(settings: Any) -> None:
    settings.MADOGUCHI_SESSION_RETENTION_DAYS = 90
    old, recent = _visit(91), _visit(10)
    old_day = timezone.localdate(CounterSession.objects.get(pk=old.pk).opened_at)
    assert stats.day_summary(day=old_day).total.visits == 1

    done = retention.retention_purge()
    assert done["counter_sessions"] == 1

    old.refresh_from_db()
    assert old.erased_at is not None and old.atena_no == "" and old.answers == {} and old.signature == ""
    assert old.card == {} and not SessionForm.objects.filter(session=old).exclude(data={}).exists()
    assert not SessionEvent.objects.filter(session=old).exclude(detail={}).exists()
    assert old.state == "finished" and old.progress == "done"  # the statistics keep it
    assert stats.day_summary(day=old_day).total.visits == 1
    recent.refresh_from_db()
    assert recent.atena_no and recent.answers and recent.erased_at is None
    assert SessionForm.objects.get(session=recent).data["name"] == RESIDENT
    record = AuditEvent.objects.get(target_type="retention")
    assert record.detail["erased"]["counter_sessions"] == 1  # the erasure is on the record, by count
    assert retention.retention_purge()["counter_sessions"] == 0  # once

    clerk = Client()
    clerk.force_login(UserFactory.create(roles=["clerk"]))
    page = clerk.get(reverse("counters:session", args=[old.reception_no])).content.decode()
    assert 'data-testid="erased"' in page and RESIDENT not in page and ADDRESS not in page


def test_export_rows_go_days_after_their_batch_but_waiting_and_refused_rows_stay(
    local_storage: LocalFolderStorage, settings: Any
) -> None:
    settings.MADOGUCHI_EXPORT_ROWS_RETENTION_DAYS = 90
    header = ["受付番号", "氏名", "住所"]
    for reception in ("R1", "R2"):
        outbox_put(
            reception_no=reception,
            exports=[ExportRows("juminido", "juminido@1", header, [[reception, RESIDENT, ADDRESS]])],
        )
    export_flush(storage=local_storage)
    ExportItem.objects.filter(reception_no="R2").update(status=ExportStatus.NG)
    outbox_put(
        reception_no="R3", exports=[ExportRows("juminido", "juminido@1", header, [["R3", RESIDENT, ADDRESS]])]
    )
    ExportBatch.objects.update(written_at=timezone.now() - dt.timedelta(days=91))
    ExportItem.objects.update(created_at=timezone.now() - dt.timedelta(days=200))

    assert retention.retention_purge()["export_rows"] == 1
    assert sorted(ExportItem.objects.values_list("reception_no", flat=True)) == ["R2", "R3"]
    assert ExportBatch.objects.count() == 1  # the batch and its counts stay


def test_login_records_and_expired_sessions_go(settings: Any) -> None:
    settings.MADOGUCHI_LOGIN_RECORD_RETENTION_DAYS = 90
    user, terminal = UserFactory.create(), TerminalFactory.create()
    long_ago = timezone.now() - dt.timedelta(days=100)
    old = CardLogin.objects.create(terminal=terminal, user=user, token="old", expires_at=long_ago)
    new = CardLogin.objects.create(terminal=terminal, user=user, token="new", expires_at=timezone.now())
    for model, extra in ((AccessAttempt, {"failures_since_start": 1}), (AccessLog, {})):
        model.objects.create(username="x", ip_address="127.0.0.1", user_agent="t", **extra)
        model.objects.update(attempt_time=long_ago)
        model.objects.create(username="y", ip_address="127.0.0.1", user_agent="t", **extra)
    Session.objects.create(
        session_key="expired", session_data="x", expire_date=timezone.now() - dt.timedelta(1)
    )
    Session.objects.create(session_key="live", session_data="x", expire_date=timezone.now() + dt.timedelta(1))

    done = retention.retention_purge()
    assert done["login_records"] == 3
    assert list(CardLogin.objects.values_list("pk", flat=True)) == [new.pk] and old.pk != new.pk
    assert list(AccessLog.objects.values_list("username", flat=True)) == ["y"]
    assert list(Session.objects.values_list("session_key", flat=True)) == ["live"]


def test_one_kind_failing_does_not_stop_the_others() -> None:
    def broken() -> int:
        raise ConnectionError("storage down")

    kinds = tuple(replace(k, purge=broken) if k.code == "backups" else k for k in retention.KINDS)
    _visit(400)
    done = retention.retention_purge(kinds)
    assert done["backups"] == "failed: ConnectionError"
    assert done["counter_sessions"] == 1


def test_the_table_shows_every_kind_with_its_setting(settings: Any) -> None:
    settings.MADOGUCHI_SESSION_RETENTION_DAYS = 45
    out = io.StringIO()
    call_command("retention", stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == len(retention.KINDS) >= 10
    assert any(line.split()[:3] == ["counter_sessions", "45", "days"] for line in lines)


def test_after_every_purge_no_old_visit_leaves_its_residents_data(settings: Any) -> None:
    _visit(365)
    retention.retention_purge()
    dump = database_dump()
    assert RESIDENT not in dump and ADDRESS not in dump and "000000000000018" not in dump
