"""The receipt command against a live server and a TCP printer on loopback: the printer offline keeps the job
queued and the command retrying; back online, the receipt prints exactly once. The last test runs the agent
itself (``python -m devices.agent run --config …``) as a process on the real filesystem broker."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from devices import services
from devices.agent.app import print_receipt
from devices.agent.config import config_write
from devices.agent.drivers import PrintFailed
from devices.agent.journal import PrintJournal
from devices.models import PrintJob, PrintStatus, Terminal
from tests.conftest import free_port
from tests.factories import TerminalFactory

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
RECEIPT = {
    "title": "番号札",
    "lines": [{"text": "受付番号 A001", "size": "large", "align": "center"}],
    "qr": None,
    "cut": True,
}


class TcpPrinter:
    """A network printer on loopback: every connection that sends bytes is one job. A connection that sends
    nothing is the agent's status check."""

    def __init__(self, port: int) -> None:
        self.jobs: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", port))
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            chunks = []
            with conn:
                while chunk := conn.recv(65536):
                    chunks.append(chunk)
            data = b"".join(chunks)
            if data:
                self.jobs.append(data)

    def close(self) -> None:
        self.sock.close()


def wait_for(condition: Callable[[], Any], seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not condition():
        time.sleep(0.1)
    return condition()


@pytest.fixture
def terminal() -> Terminal:
    return TerminalFactory.create()


@pytest.fixture
def printer_port() -> int:
    return free_port()


@pytest.fixture
def printer(printer_port: int) -> Iterator[Callable[[], TcpPrinter]]:
    started: list[TcpPrinter] = []

    def start() -> TcpPrinter:
        started.append(TcpPrinter(printer_port))
        return started[-1]

    yield start
    for server in started:
        server.close()


@pytest.fixture
def broker_folder() -> Iterator[Path]:
    """The filesystem broker's folder; the messages sent to this test's terminal are removed afterwards."""
    if not settings.CELERY_BROKER_URL.startswith("filesystem"):
        pytest.skip("runs the agent on the filesystem broker")
    folder = Path(str(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]))
    before = set(folder.glob("*.msg"))
    yield folder
    for path in set(folder.glob("*.msg")) - before:
        path.unlink(missing_ok=True)


@pytest.fixture
def agent_env(monkeypatch, live_server, terminal: Terminal, tmp_path: Path, printer_port: int) -> Path:
    for name, value in {
        "MADOGUCHI_SERVER_URL": live_server.url,
        "MADOGUCHI_TERMINAL_CODE": terminal.code,
        "MADOGUCHI_TERMINAL_SECRET": terminal.secret,
        "MADOGUCHI_AGENT_STATE_DIR": str(tmp_path / "agent"),
        "MADOGUCHI_RECEIPT_PRINTER": f"network:127.0.0.1:{printer_port}",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MADOGUCHI_AGENT_CONFIG", raising=False)
    return tmp_path / "agent"


def receipt_job(terminal: Terminal) -> PrintJob:
    return services.receipt_job_create(terminal=terminal, title="番号札", receipt=RECEIPT, requested_by=None)


def test_an_offline_printer_keeps_the_job_queued_and_it_prints_once_when_back(
    terminal: Terminal, agent_env: Path, printer: Callable[[], TcpPrinter], broker_folder: Path
) -> None:
    job = receipt_job(terminal)
    with pytest.raises(PrintFailed, match="cannot connect"):
        print_receipt(job_id=job.pk)  # called directly, Celery's retry raises the cause
    job.refresh_from_db()
    assert job.status == PrintStatus.QUEUED

    online = printer()
    print_receipt(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == PrintStatus.PRINTED
    print_receipt(job_id=job.pk)  # delivered again: the server says 410, nothing prints
    assert wait_for(lambda: len(online.jobs) == 1, 2) and len(online.jobs) == 1
    assert (
        b"\x1c&" + "受付番号".encode("shift_jis") + b"\x1c. A001" in online.jobs[0]
    )  # Kanji mode, then ASCII


def test_a_receipt_printed_before_its_report_was_lost_is_not_printed_again(
    terminal: Terminal, agent_env: Path, printer: Callable[[], TcpPrinter], broker_folder: Path
) -> None:
    job = receipt_job(terminal)
    PrintJournal(agent_env).record(job.pk, json.dumps(RECEIPT, sort_keys=True, ensure_ascii=False).encode())
    online = printer()
    print_receipt(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == PrintStatus.PRINTED
    time.sleep(0.2)
    assert online.jobs == []


def test_another_terminals_receipt_is_refused(
    terminal: Terminal, agent_env: Path, printer: Callable[[], TcpPrinter], broker_folder: Path
) -> None:
    job = receipt_job(TerminalFactory.create())
    online = printer()
    print_receipt(job_id=job.pk)  # 403: logged, not retried
    job.refresh_from_db()
    assert job.status == PrintStatus.QUEUED and online.jobs == []


def listening_sockets(pid: int) -> list[str]:
    """The TCP and UDP sockets process ``pid`` listens on (or is bound to, for UDP), as ``proto:port``: its socket
    inodes from /proc/<pid>/fd matched against the kernel's socket tables."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        for line in Path(f"/proc/{pid}/net/{proto}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            listening = state == "0A" if proto.startswith("tcp") else state == "07"
            if inode in inodes and listening:
                found.append(f"{proto}:{int(local.rsplit(':', 1)[1], 16)}")
    return found


def test_the_agent_process_heartbeats_and_prints_a_receipt_once_its_printer_is_back(
    live_server,
    terminal: Terminal,
    tmp_path: Path,
    printer: Callable[[], TcpPrinter],
    printer_port: int,
    broker_folder: Path,
) -> None:
    config = tmp_path / "agent.toml"
    config_write(
        config,
        {
            "server_url": live_server.url,
            "terminal": terminal.code,
            "secret": terminal.secret,
            "state_dir": "state",
            "printed_dir": "printed",
            "receipt_printer": f"network:127.0.0.1:{printer_port}",
            "broker_url": "filesystem://",
            "heartbeat_seconds": "1",
        },
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MADOGUCHI_") and k not in {"CELERY_BROKER_URL", "REDIS_URL"}
    }
    env["CELERY_BROKER_DIR"] = str(broker_folder)
    log = (tmp_path / "agent.log").open("wb")
    agent = subprocess.Popen(
        [sys.executable, "-m", "devices.agent", "run", "--config", str(config)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        # The worker is ready and its heartbeat (from the file's settings) reaches the server.
        assert wait_for(lambda: Terminal.objects.get(pk=terminal.pk).last_heartbeat_at, 30), (
            tmp_path / "agent.log"
        ).read_text()
        job = receipt_job(terminal)  # the printer is offline: the agent retries
        assert wait_for(lambda: "printer failed" in (tmp_path / "agent.log").read_text(), 15)
        time.sleep(1)
        job.refresh_from_db()
        assert job.status == PrintStatus.QUEUED
        online = printer()
        assert wait_for(lambda: PrintJob.objects.get(pk=job.pk).status == PrintStatus.PRINTED, 30), (
            tmp_path / "agent.log"
        ).read_text()
        time.sleep(1)
        assert len(online.jobs) == 1
        assert (tmp_path / "state" / "outbox").is_dir()
        assert listening_sockets(agent.pid) == [], "the agent listens on no port"
    finally:
        os.killpg(agent.pid, signal.SIGTERM)
        try:
            agent.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(agent.pid, signal.SIGKILL)
            agent.wait()
        log.close()
