"""The agent's print command against a live server, over real signed HTTP."""

import json
from pathlib import Path

import pytest
import requests
from django.core.files.base import ContentFile

from devices import signing
from devices.agent.app import print_pdf
from devices.models import PrintJob, PrintStatus
from tests.factories import TerminalFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def terminal():
    return TerminalFactory()


@pytest.fixture
def job(terminal) -> PrintJob:
    job = PrintJob(terminal=terminal, title="住民異動届")
    job.pdf.save("job.pdf", ContentFile(b"%PDF-1.7 test"), save=True)
    return job


@pytest.fixture
def agent_env(monkeypatch, live_server, terminal, tmp_path) -> Path:
    printed = tmp_path / "printed"
    monkeypatch.setenv("MADOGUCHI_SERVER_URL", live_server.url)
    monkeypatch.setenv("MADOGUCHI_TERMINAL_CODE", terminal.code)
    monkeypatch.setenv("MADOGUCHI_TERMINAL_SECRET", terminal.secret)
    monkeypatch.setenv("MADOGUCHI_PRINTED_DIR", str(printed))
    monkeypatch.setenv("MADOGUCHI_AGENT_STATE_DIR", str(tmp_path / "agent"))
    return printed


def test_agent_prints_and_reports(job, agent_env) -> None:
    print_pdf(job_id=job.pk)
    assert (agent_env / f"job-{job.pk}.pdf").read_bytes() == b"%PDF-1.7 test"
    job.refresh_from_db()
    assert job.status == PrintStatus.PRINTED and job.finished_at is not None


def test_a_job_runs_once_even_when_delivered_twice(job, agent_env) -> None:
    print_pdf(job_id=job.pk)
    (agent_env / f"job-{job.pk}.pdf").unlink()
    print_pdf(job_id=job.pk)
    assert not (agent_env / f"job-{job.pk}.pdf").exists()


def test_another_terminals_job_is_not_printed(job, agent_env, monkeypatch) -> None:
    other = TerminalFactory()
    monkeypatch.setenv("MADOGUCHI_TERMINAL_CODE", other.code)
    monkeypatch.setenv("MADOGUCHI_TERMINAL_SECRET", other.secret)
    print_pdf(job_id=job.pk)
    assert not agent_env.exists()
    job.refresh_from_db()
    assert job.status == PrintStatus.QUEUED


def test_forged_event_is_refused(job, live_server, terminal) -> None:
    body = json.dumps({"type": "print.done", "job": job.pk}).encode()
    headers = signing.signed_headers(
        terminal=terminal.code, secret="not-the-secret", method="POST", path="/devices/api/events", body=body
    )
    response = requests.post(f"{live_server.url}/devices/api/events", data=body, headers=headers, timeout=10)
    assert response.status_code == 403
    job.refresh_from_db()
    assert job.status == PrintStatus.QUEUED


def test_malformed_event_is_refused(job, live_server, terminal) -> None:
    body = b'{"type": "print.done"}'
    headers = signing.signed_headers(
        terminal=terminal.code, secret=terminal.secret, method="POST", path="/devices/api/events", body=body
    )
    response = requests.post(f"{live_server.url}/devices/api/events", data=body, headers=headers, timeout=10)
    assert response.status_code == 400 and "malformed" in response.json()["error"]


def test_a_job_printed_before_its_report_was_lost_is_confirmed_not_printed_again(
    job, agent_env, tmp_path
) -> None:
    from devices.agent.journal import PrintJournal

    # The agent printed, recorded it, then lost the server before reporting print.done.
    PrintJournal(tmp_path / "agent").record(job.pk, b"%PDF-1.7 test")
    print_pdf(job_id=job.pk)
    assert not (agent_env / f"job-{job.pk}.pdf").exists()
    job.refresh_from_db()
    assert job.status == PrintStatus.PRINTED


def test_a_lost_pdf_fails_the_job_instead_of_retrying_forever(job, agent_env) -> None:
    Path(job.pdf.path).unlink()
    print_pdf(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == PrintStatus.FAILED and "印刷データ" in job.message


def test_terminal_secrets_are_generated_and_an_empty_secret_never_verifies() -> None:
    from devices.models import Terminal

    terminal = Terminal.objects.create(code="new", name="新端末")
    assert len(terminal.secret) >= 40
    body = b"{}"
    headers = signing.signed_headers(terminal="x", secret="", method="POST", path="/p", body=body)
    assert not signing.verify(
        "",
        timestamp=headers[signing.HEADER_TIMESTAMP],
        nonce=headers[signing.HEADER_NONCE],
        given=headers[signing.HEADER_SIGNATURE],
        method="POST",
        path="/p",
        body=body,
    )
