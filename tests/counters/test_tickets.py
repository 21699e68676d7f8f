"""Numbered tickets (番号札) printed on the group's receipt printer: the ticket and its print job are one
transaction, the agent prints it once over the signed API, and a group without a printer just counts."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from counters import services
from counters.models import CounterGroup
from devices.agent.app import print_receipt
from devices.models import PrintJob, PrintKind, PrintStatus
from tests.factories import PASSWORD, CounterFactory, TerminalFactory, UserFactory


@pytest.fixture
def group(db) -> CounterGroup:
    return CounterGroup.objects.create(
        code="shimin", name="市民課", ticket_prefix="A", ticket_terminal=TerminalFactory.create()
    )


@pytest.mark.django_db
def test_a_ticket_is_queued_for_the_groups_printer_with_its_number(group) -> None:
    services.ticket_issue(group=group)
    ticket = services.ticket_issue(group=group)
    job = PrintJob.objects.filter(kind=PrintKind.RECEIPT).latest("pk")
    assert job.terminal == group.ticket_terminal and job.status == PrintStatus.QUEUED
    texts = [line["text"] for line in job.receipt["lines"]]
    assert ticket.label == "A002" and "A002" in texts and "市民課" in texts
    assert "お待ちの方 1 人" in texts  # A001 is still waiting
    assert job.receipt["cut"] is True


@pytest.mark.django_db
def test_a_group_without_a_printer_only_counts(group) -> None:
    group.ticket_terminal = None
    group.save()
    assert services.ticket_issue(group=group).label == "A001"
    assert not PrintJob.objects.exists()


@pytest.mark.django_db
def test_the_ticket_button_prints_through_the_clerks_request(group) -> None:
    clerk = UserFactory(roles=["clerk"])
    CounterFactory.create(group=group)
    client = Client()
    client.login(username=clerk.username, password=PASSWORD)
    response = client.post(reverse("counters:ticket_issue"), {"group": "shimin"}, follow=True)
    assert "番号札 A001 を発券しました" in response.content.decode()
    assert PrintJob.objects.get().requested_by == clerk


@pytest.mark.django_db(transaction=True)
def test_the_agent_prints_the_ticket_once(group, monkeypatch, live_server, tmp_path: Path) -> None:
    terminal = group.ticket_terminal
    printed = tmp_path / "printed"
    for name, value in {
        "MADOGUCHI_SERVER_URL": live_server.url,
        "MADOGUCHI_TERMINAL_CODE": terminal.code,
        "MADOGUCHI_TERMINAL_SECRET": terminal.secret,
        "MADOGUCHI_PRINTED_DIR": str(printed),
        "MADOGUCHI_AGENT_STATE_DIR": str(tmp_path / "agent"),
        "MADOGUCHI_RECEIPT_PRINTER": "simulated",
    }.items():
        monkeypatch.setenv(name, value)
    services.ticket_issue(group=group)
    job = PrintJob.objects.get()
    print_receipt(job_id=job.pk)
    [output] = printed.glob("receipt-*.bin")
    first = output.stat().st_mtime_ns
    print_receipt(job_id=job.pk)  # delivered twice: the server says it is printed
    # Delivered again after its print.done was lost: the agent's journal confirms it without printing.
    PrintJob.objects.filter(pk=job.pk).update(status=PrintStatus.QUEUED, finished_at=None)
    print_receipt(job_id=job.pk)
    text = (printed / f"receipt-{job.pk}.txt").read_text(encoding="utf-8")
    assert "A001" in text and "市民課" in text
    assert list(printed.glob("receipt-*.bin")) == [output] and output.stat().st_mtime_ns == first
    job.refresh_from_db()
    assert job.status == PrintStatus.PRINTED
