"""The agent's durable outbox over real HTTP: events survive an unreachable server and a restart, are sent in order
with back-off and a fresh signature per try, refusals are set aside, card data is never kept longer than needed
and the PIN is never in it."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import stat
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile

from devices import signing
from devices.agent.app import read_card
from devices.agent.client import ServerClient
from devices.agent.config import AgentConfig
from devices.agent.outbox import Outbox, agent_outbox
from devices.models import AgentEvent, PrintJob, PrintStatus, Terminal
from tests.conftest import free_port
from tests.factories import TerminalFactory

from .broker_messages import sealed_for

pytestmark = pytest.mark.django_db(transaction=True)
PIN = "7391"


def agent_config(terminal: Terminal, server_url: str, state: Path) -> AgentConfig:
    return AgentConfig(
        server_url=server_url,
        terminal=terminal.code,
        secret=terminal.secret,
        printed_dir=state / "printed",
        state_dir=state,
        printer="simulated",
    )


def queued_job(terminal: Terminal) -> PrintJob:
    job = PrintJob(terminal=terminal, title="住民異動届")
    job.pdf.save("job.pdf", ContentFile(b"%PDF-1.7 test"), save=True)
    return job


@pytest.fixture
def terminal() -> Terminal:
    return TerminalFactory.create()


def test_events_wait_for_an_unreachable_server_and_are_sent_in_order_after_a_restart(
    terminal: Terminal, live_server, tmp_path: Path
) -> None:
    first, second = queued_job(terminal), queued_job(terminal)
    down = agent_config(terminal, f"http://127.0.0.1:{free_port()}", tmp_path)
    outbox = Outbox(tmp_path / "outbox", ServerClient(down).event)
    outbox.post({"type": "print.failed", "job": first.pk, "message": "紙切れ"})
    outbox.post({"type": "print.done", "job": first.pk})  # a later report of the same job must not win
    outbox.post({"type": "print.done", "job": second.pk})
    files = outbox.pending()
    assert len(files) == 3 and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    ids = [json.loads(f.read_text())["id"] for f in files]
    assert all(len(i) == 32 for i in ids)

    # The agent restarts, now with the server reachable: the sender resends what the last run left, in order.
    restarted = Outbox(
        tmp_path / "outbox", ServerClient(agent_config(terminal, live_server.url, tmp_path)).event
    )
    restarted.start()
    try:
        deadline = time.monotonic() + 10
        while restarted.pending() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        restarted.stop()
    assert restarted.pending() == []
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (PrintStatus.FAILED, PrintStatus.PRINTED)
    assert set(AgentEvent.objects.values_list("event_id", flat=True)) >= set(ids)


class FlakyServer:
    """A real HTTP server on loopback that answers 503 to the first ``failures`` events, then 200; it records
    when each try came and its signature headers."""

    def __init__(self, failures: int) -> None:
        self.tries: list[tuple[float, dict[str, str], dict[str, Any]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.tries.append((time.monotonic(), dict(self.headers), body))
                status = 503 if len(server.tries) <= failures else 200
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def flaky() -> Iterator[FlakyServer]:
    server = FlakyServer(failures=3)
    yield server
    server.close()


def test_a_failing_server_gets_the_event_again_with_back_off_and_a_fresh_signature(
    terminal: Terminal, flaky: FlakyServer, tmp_path: Path
) -> None:
    outbox = Outbox(tmp_path / "outbox", ServerClient(agent_config(terminal, flaky.url, tmp_path)).event)
    outbox.put({"type": "qr.scanned", "payload": "MDG1-ATENA:000000000019"})
    outbox.start()
    try:
        deadline = time.monotonic() + 10
        while outbox.pending() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        outbox.stop()
    assert outbox.pending() == []
    assert len(flaky.tries) == 4
    gaps = [b[0] - a[0] for a, b in zip(flaky.tries, flaky.tries[1:], strict=False)]
    for gap, expected in zip(gaps, [0.5, 1.0, 2.0], strict=True):
        assert expected <= gap < expected + 0.5
    nonces = {headers[signing.HEADER_NONCE] for _, headers, _ in flaky.tries}
    assert len(nonces) == 4  # every try signed afresh: the server refuses a replayed nonce
    assert (
        len({body["id"] for _, _, body in flaky.tries}) == 1
    )  # the same event, for the server to de-duplicate


def test_a_refused_event_is_set_aside_for_the_operator_and_not_retried(
    terminal: Terminal, live_server, tmp_path: Path
) -> None:
    outbox = Outbox(
        tmp_path / "outbox", ServerClient(agent_config(terminal, live_server.url, tmp_path)).event
    )
    outbox.post({"type": "no.such.event"})
    job = queued_job(terminal)
    outbox.post({"type": "print.done", "job": job.pk})  # the refusal does not hold the queue up
    assert outbox.pending() == []
    refused = list((tmp_path / "outbox" / "refused").iterdir())
    assert len(refused) == 1 and json.loads(refused[0].read_text())["type"] == "no.such.event"
    job.refresh_from_db()
    assert job.status == PrintStatus.PRINTED

    # A week later the operator has had time to look: the refused event is deleted at the next send.
    later = Outbox(tmp_path / "outbox", lambda event: None, clock=lambda: time.time() + 7 * 86400 + 60)
    later.post({"type": "print.done", "job": job.pk})
    assert list((tmp_path / "outbox" / "refused").iterdir()) == []


def test_only_the_newest_unsent_heartbeat_is_kept(terminal: Terminal, tmp_path: Path) -> None:
    outbox = Outbox(
        tmp_path / "outbox", ServerClient(agent_config(terminal, "http://127.0.0.1:9", tmp_path)).event
    )
    outbox.put({"type": "print.done", "job": 1})
    for n in range(3):
        outbox.put({"type": "heartbeat", "n": n})
    outbox.put({"type": "print.done", "job": 2})
    kept = [json.loads(path.read_text()) for path in outbox.pending()]
    assert [e.get("n", e.get("job")) for e in kept] == [1, 2, 2]
    assert kept[1]["type"] == "heartbeat"


@pytest.fixture
def card_agent(monkeypatch: pytest.MonkeyPatch, terminal: Terminal, tmp_path: Path) -> AgentConfig:
    card = tmp_path / "card.json"
    card.write_text(
        json.dumps(
            {
                "kind": "mynumber",
                "name": "転入　太郎",
                "address": "大阪府大阪市北区中之島一丁目3番20号",
                "birth_date": "1979-02-03",
                "sex": "1",
                "individual_number": "987654321098",
                "pin": PIN,
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    down = f"http://127.0.0.1:{free_port()}"
    for name, value in {
        "MADOGUCHI_SERVER_URL": down,
        "MADOGUCHI_TERMINAL_CODE": terminal.code,
        "MADOGUCHI_TERMINAL_SECRET": terminal.secret,
        "MADOGUCHI_AGENT_STATE_DIR": str(tmp_path / "agent"),
        "MADOGUCHI_PRINTED_DIR": str(tmp_path / "printed"),
        "MADOGUCHI_SIMULATED_CARD": str(card),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MADOGUCHI_AGENT_CONFIG", raising=False)
    return AgentConfig.from_env()


def _sealed(config: AgentConfig, request_id: str, pin: str) -> str:
    return sealed_for(
        terminal=config.terminal, secret=config.secret, request_id=request_id, kind="mynumber", pin=pin
    )


def test_a_card_read_waits_in_a_private_file_without_the_pin_and_goes_once_delivered(
    card_agent: AgentConfig, live_server, tmp_path: Path
) -> None:
    # The server is down: the events wait.
    read_card(request_id="r1", kind="mynumber", sealed_pin=_sealed(card_agent, "r1", PIN))
    read_card(request_id="r2", kind="mynumber", sealed_pin=_sealed(card_agent, "r2", "0000"))
    files = agent_outbox(card_agent).pending()
    assert [f.name.endswith(".card.json") for f in files] == [True, True]
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    everything = b"".join(p.read_bytes() for p in (tmp_path / "agent").rglob("*") if p.is_file())
    # Not inside a longer run of hex digits (an event id is a uuid in hex, and may hold "0000" by chance).
    for pin in (PIN, "0000"):
        assert not re.search(rb"(?<![0-9a-f])" + pin.encode() + rb"(?![0-9a-f])", everything)
    events = [json.loads(f.read_text()) for f in files]
    assert events[0]["type"] == "card.read" and events[0]["card"]["individual_number"] == "987654321098"
    assert events[1]["type"] == "card.failed" and events[1]["retries_left"] == 2

    # The server is back; no session asked for r1/r2, so it refuses them: refused card events are deleted, not
    # kept in refused/ (they hold the individual number).
    reachable = dataclasses.replace(card_agent, server_url=live_server.url)
    back = Outbox(tmp_path / "agent" / "outbox", ServerClient(reachable).event)
    assert back.flush()
    assert back.pending() == [] and not (tmp_path / "agent" / "outbox" / "refused").exists()


def test_card_events_older_than_ten_minutes_are_dropped_unsent(
    card_agent: AgentConfig, tmp_path: Path
) -> None:
    read_card(request_id="r1", kind="mynumber", sealed_pin=_sealed(card_agent, "r1", PIN))
    sent: list[dict[str, Any]] = []
    later = Outbox(tmp_path / "agent" / "outbox", sent.append, clock=lambda: time.time() + 601)
    later.put({"type": "print.done", "job": 3})  # not a card event: sent however old
    assert later.flush()
    assert [e["type"] for e in sent] == ["print.done"] and later.pending() == []


def test_a_reader_that_breaks_still_answers_the_session_without_the_pin(
    card_agent: AgentConfig, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("MADOGUCHI_SIMULATED_CARD", str(tmp_path))  # a folder: the driver fails unexpectedly
    read_card(request_id="r3", kind="mynumber", sealed_pin=_sealed(card_agent, "r3", PIN))
    [event] = [json.loads(path.read_text()) for path in agent_outbox(card_agent).pending()]
    assert (event["type"], event["request"], event["reason"]) == ("card.failed", "r3", "reader_error")
    assert "IsADirectoryError" in caplog.text and PIN not in caplog.text
