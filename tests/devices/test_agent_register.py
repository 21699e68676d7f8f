"""The agent's configuration file and ``python -m devices.agent register`` against a live server's real
``/devices/api/register``: the secret lands in a file only its owner can read, and the agent then signs with it."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

import pytest

from devices import services
from devices.agent.__main__ import main
from devices.agent.client import ServerClient
from devices.agent.config import AgentConfig, ConfigError, config_write
from devices.models import Terminal
from tests.conftest import free_port

pytestmark = pytest.mark.django_db(transaction=True)

AGENT_VARIABLES = [
    "MADOGUCHI_AGENT_CONFIG",
    "MADOGUCHI_SERVER_URL",
    "MADOGUCHI_TERMINAL_CODE",
    "MADOGUCHI_TERMINAL_SECRET",
    "MADOGUCHI_A4_PRINTER",
    "MADOGUCHI_PRINTED_DIR",
    "MADOGUCHI_AGENT_STATE_DIR",
    "MADOGUCHI_CARD_READER",
    "MADOGUCHI_STAFF_READER",
    "MADOGUCHI_QR_SCANNER",
    "MADOGUCHI_RECEIPT_PRINTER",
    "MADOGUCHI_HEARTBEAT_SECONDS",
]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in AGENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def new_terminal() -> tuple[Terminal, str]:
    return services.terminal_create(code="K01", name="市民課1番", location="1F", actor=None)


def test_register_writes_the_secret_readable_by_its_owner_only(
    live_server, new_terminal: tuple[Terminal, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    terminal, code = new_terminal
    config_file = tmp_path / "madoguchi" / "agent.toml"
    status = main(
        [
            "register",
            "--server",
            live_server.url + "/",
            "--terminal",
            "K01",
            "--code",
            code,
            "--config",
            str(config_file),
        ]
    )
    assert status == 0, capsys.readouterr().err
    terminal.refresh_from_db()
    written = tomllib.loads(config_file.read_text())
    assert written == {"server_url": live_server.url, "terminal": "K01", "secret": terminal.secret}
    assert mode(config_file) == 0o600
    assert terminal.secret not in capsys.readouterr().out
    # The agent signs with it: the server accepts a heartbeat.
    config = AgentConfig.load(config_file)
    ServerClient(config).event(
        {
            "type": "heartbeat",
            "agent": {"version": "t", "started_at": "2026-01-01T00:00:00+00:00"},
            "devices": [],
        }
    )
    terminal.refresh_from_db()
    assert terminal.last_heartbeat_at is not None


def test_registering_again_updates_the_file_and_keeps_the_other_settings(
    live_server, new_terminal: tuple[Terminal, str], tmp_path: Path
) -> None:
    terminal, _ = new_terminal
    config_file = tmp_path / "agent.toml"
    config_write(config_file, {"terminal": "K01", "secret": "old", "qr_scanner": "serial:COM3@9600"})
    code = services.terminal_code_issue(terminal=terminal, actor=None)
    assert (
        main(
            [
                "register",
                "--server",
                live_server.url,
                "--terminal",
                "K01",
                "--code",
                code,
                "--config",
                str(config_file),
            ]
        )
        == 0
    )
    terminal.refresh_from_db()
    written = tomllib.loads(config_file.read_text())
    assert written["secret"] == terminal.secret != "old"
    assert written["qr_scanner"] == "serial:COM3@9600"
    assert mode(config_file) == 0o600


def test_a_wrong_code_is_refused_clearly_and_changes_no_file(
    live_server, new_terminal: tuple[Terminal, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_file = tmp_path / "agent.toml"
    config_write(config_file, {"terminal": "K01", "secret": "kept"})
    before = config_file.read_bytes()
    status = main(
        [
            "register",
            "--server",
            live_server.url,
            "--terminal",
            "K01",
            "--code",
            "WRONGCODE234",
            "--config",
            str(config_file),
        ]
    )
    assert status == 2
    err = capsys.readouterr().err
    assert "refused" in err and "HTTP 403" in err and "wrong registration code" in err
    assert config_file.read_bytes() == before


def test_an_unreachable_server_is_said_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config_file = tmp_path / "agent.toml"
    url = f"http://127.0.0.1:{free_port()}"
    status = main(
        ["register", "--server", url, "--terminal", "K01", "--code", "X", "--config", str(config_file)]
    )
    assert status == 3
    assert f"cannot reach the server at {url}" in capsys.readouterr().err
    assert not config_file.exists()


def test_the_environment_overrides_the_file_and_relative_folders_follow_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_file = tmp_path / "conf" / "agent.toml"
    config_write(
        config_file,
        {
            "terminal": "K01",
            "secret": "s",
            "state_dir": "state",
            "printer": "cups:A4",
            "heartbeat_seconds": "5",
        },
    )
    config = AgentConfig.load(config_file)
    assert (config.terminal, config.printer, config.heartbeat_seconds) == ("K01", "cups:A4", 5.0)
    assert config.state_dir == tmp_path / "conf" / "state"
    monkeypatch.setenv("MADOGUCHI_A4_PRINTER", "simulated")
    monkeypatch.setenv("MADOGUCHI_AGENT_CONFIG", str(config_file))
    assert AgentConfig.from_env().printer == "simulated"  # what the worker's tasks see


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('terminal = "K01"\nsecret = "s"\nprinter_name = "x"\n', "unknown key(s) printer_name"),
        ('terminal = "K01"\nsecret = 5\n', "secret must be a string"),
        ('terminal = "K01"\nsecret = "s\n', "is not valid TOML"),
        ('terminal = "K01"\n', "set secret in"),
        ('terminal = "K01"\nsecret = "s"\nheartbeat_seconds = 0\n', "heartbeat_seconds must be positive"),
    ],
)
def test_a_bad_file_stops_the_agent_with_a_message_naming_it(
    tmp_path: Path, content: str, message: str
) -> None:
    config_file = tmp_path / "agent.toml"
    config_file.write_text(content)
    with pytest.raises(ConfigError) as error:
        AgentConfig.load(config_file)
    assert message in str(error.value.code) and (
        str(config_file) in str(error.value.code) or "heartbeat" in message
    )


def test_run_with_a_missing_file_exits_with_its_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.toml"
    assert main(["run", "--config", str(missing)]) == 1
    assert f"config file {missing} does not exist" in capsys.readouterr().err
    assert "MADOGUCHI_AGENT_CONFIG" not in os.environ
