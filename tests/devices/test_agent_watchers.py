"""The agent's device watchers and heartbeat: a serial QR scanner on a real pty, the simulated staff reader, a
driver that fails and is reopened with back-off (reported once as error, logged without what it read), and a
heartbeat that reaches a live server's device table."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devices.agent.config import AgentConfig
from devices.agent.drivers import DeviceStatus
from devices.agent.outbox import Outbox
from devices.agent.runtime import runtime_build
from devices.agent.watchers import DeviceWatcher, qr_poll, qr_watcher, staff_watcher
from devices.models import Device
from tests.factories import TerminalFactory

SCAN = "MDG1-ATENA:000000000019"


def config_for(tmp_path: Path, **settings: Any) -> AgentConfig:
    base = AgentConfig(
        server_url="http://127.0.0.1:9",
        terminal="K01",
        secret="s",
        printed_dir=tmp_path / "printed",
        state_dir=tmp_path / "agent",
        printer="simulated",
    )
    return dataclasses.replace(base, **settings)


def wait_for(condition: Callable[[], Any], seconds: float = 5) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    return condition()


def events_in(outbox: Outbox) -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in outbox.pending()]


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    return Outbox(tmp_path / "outbox", lambda event: None)


@pytest.fixture
def running() -> Iterator[list[DeviceWatcher]]:
    watchers: list[DeviceWatcher] = []
    yield watchers
    for watcher in watchers:
        watcher.stop()


def test_a_serial_qr_scanner_posts_scans_and_unreadable_codes(
    tmp_path: Path, outbox: Outbox, running: list[DeviceWatcher], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    controller, port = os.openpty()
    try:
        watcher = qr_watcher(config_for(tmp_path, qr_scanner=f"serial:{os.ttyname(port)}"), outbox.put)
        running.append(watcher)
        watcher.start()
        # Opening a serial port discards what arrived before, as with a real scanner: scan once it is open.
        assert wait_for(lambda: getattr(watcher._driver, "port", None) is not None)
        os.write(controller, SCAN.encode() + b"\r")
        os.write(controller, b"\x00\x01\x02garbage\r")
        os.write(controller, "MDG1-住民票".encode("cp932") + b"\r\n")
        events = wait_for(lambda: len(events_in(outbox)) == 3 and events_in(outbox))
    finally:
        running.clear()
        watcher.stop()
        os.close(controller)
        os.close(port)
    assert [e["type"] for e in events] == ["qr.scanned", "qr.failed", "qr.scanned"]
    assert events[0]["payload"] == SCAN and events[2]["payload"] == "MDG1-住民票"
    assert events[1]["reason"]
    assert SCAN not in caplog.text  # the payload may be an 宛名番号: posted, never logged


def test_the_staff_reader_posts_taps(tmp_path: Path, outbox: Outbox, running: list[DeviceWatcher]) -> None:
    taps = tmp_path / "taps"
    taps.mkdir()
    watcher = staff_watcher(config_for(tmp_path, staff_reader=f"simulated:{taps}"), outbox.put)
    running.append(watcher)
    watcher.start()
    (taps / "1").write_text("0123456789abcdef")
    events = wait_for(lambda: events_in(outbox))
    assert events == [{"type": "staff.tapped", "card_id": "0123456789ABCDEF", "id": events[0]["id"]}]
    assert watcher.status() == DeviceStatus("staff_reader", "simulated", "ok", str(taps))


class FlakyScanner:
    """A scanner whose first ``fails`` reads raise (an unplugged USB cable), then scans once."""

    def __init__(self, fails: list[BaseException]) -> None:
        self.fails, self.closed, self.scanned = fails, False, False

    def read(self, timeout: float) -> str | None:
        if self.fails:
            raise self.fails.pop(0)
        if not self.scanned:
            self.scanned = True
            return SCAN
        time.sleep(timeout)
        return None

    def status(self) -> DeviceStatus:
        return DeviceStatus("qr_scanner", "serial", "ok", "COM3")

    def close(self) -> None:
        self.closed = True


class Unreadable(Exception):
    pass


def test_a_failing_driver_is_logged_reported_once_and_reopened_with_back_off(
    outbox: Outbox, running: list[DeviceWatcher], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    failures: list[BaseException] = [
        OSError(5, "Input/output error", "987654321098"),
        RuntimeError(f"half a scan: {SCAN}"),
    ]
    opened: list[tuple[float, FlakyScanner]] = []

    def open_scanner() -> FlakyScanner:
        scanner = FlakyScanner(failures)  # the same list: each reopened driver fails once until none are left
        opened.append((time.monotonic(), scanner))
        return scanner

    watcher = DeviceWatcher(
        kind="qr_scanner",
        setting="serial:COM3",
        open_driver=open_scanner,
        poll=qr_poll(Unreadable),
        put=outbox.put,
    )
    running.append(watcher)
    watcher.start()
    assert wait_for(lambda: len(opened) == 2)
    assert watcher.status().status == "error"  # while it is being reopened
    events = wait_for(lambda: events_in(outbox))
    assert [e["payload"] for e in events] == [SCAN]
    assert len(opened) == 3
    assert opened[1][0] - opened[0][0] >= 0.5 and opened[2][0] - opened[1][0] >= 1.0  # back-off doubles
    assert all(scanner.closed for _, scanner in opened[:2])
    assert watcher.status().detail == "the device failed: RuntimeError"  # not yet reported: reported once
    assert watcher.status() == DeviceStatus("qr_scanner", "serial", "ok", "COM3")
    assert "987654321098" not in caplog.text and SCAN not in caplog.text
    assert (
        "qr_scanner watcher: the device failed: OSError: Input/output error; trying again in 0.5 s"
        in caplog.text
    )
    assert "qr_scanner watcher: the device failed: RuntimeError; trying again in 1.0 s" in caplog.text


def test_a_driver_that_cannot_open_keeps_being_retried_and_the_watcher_stops_cleanly(
    tmp_path: Path, outbox: Outbox
) -> None:
    attempts: list[float] = []

    def open_missing() -> Any:
        attempts.append(time.monotonic())
        raise SystemExit("agent: unknown QR scanner 'serial'")

    watcher = DeviceWatcher(
        kind="qr_scanner",
        setting="serial",
        open_driver=open_missing,
        poll=qr_poll(Unreadable),
        put=outbox.put,
    )
    watcher.start()
    assert wait_for(lambda: len(attempts) >= 2)
    status = watcher.status()
    assert (status.status, status.detail) == (
        "error",
        "cannot open the device: agent: unknown QR scanner 'serial'",
    )
    started = time.monotonic()
    watcher.stop()
    assert time.monotonic() - started < 2 and watcher._thread is None


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_reports_every_configured_device_to_the_server(live_server, tmp_path: Path) -> None:
    terminal = TerminalFactory.create()
    scans, taps = tmp_path / "scans", tmp_path / "taps"
    scans.mkdir()
    config = config_for(
        tmp_path,
        server_url=live_server.url,
        terminal=terminal.code,
        secret=terminal.secret,
        qr_scanner=f"simulated:{scans}",
        staff_reader=f"simulated:{taps}",  # no such folder: absent
        receipt_printer="network:127.0.0.1:1",
    )
    runtime = runtime_build(config)
    for watcher in runtime.watchers:
        watcher.start()
    try:
        assert wait_for(lambda: all(w._driver is not None for w in runtime.watchers))
        runtime.heartbeat.beat()
        runtime.heartbeat.beat()  # the first one, not sent yet, is replaced
        assert len(runtime.outbox.pending()) == 1
        assert runtime.outbox.flush()
    finally:
        for watcher in runtime.watchers:
            watcher.stop()
    terminal.refresh_from_db()
    assert terminal.last_heartbeat_at is not None
    assert re.fullmatch(r"0\.\d+\.\d+(\+[0-9a-f]{7})?", terminal.agent_version), terminal.agent_version
    devices = {d.kind: (d.driver, d.status) for d in Device.objects.filter(terminal=terminal)}
    assert devices == {
        "card_reader": ("simulated", "ok"),
        "a4_printer": ("simulated", "ok"),
        "receipt_printer": ("network", "error"),
        "qr_scanner": ("simulated", "ok"),
        "staff_reader": ("simulated", "absent"),
    }
