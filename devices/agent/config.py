"""Agent configuration: a TOML file (``run --config``, or the path in ``MADOGUCHI_AGENT_CONFIG``, or the file
``register`` wrote) overlaid by the environment variables documented in .env.example. Environment variables win,
so a service wrapper or a test can change one setting without editing the file.

The file holds the terminal secret: ``config_write`` creates it readable by its owner only (mode 0600; on Windows
the folder's ACL does that job, see docs/agent-windows.md).
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import broker

CONFIG_ENV = "MADOGUCHI_AGENT_CONFIG"

# The file's keys and the environment variables that override them.
ENV_BY_KEY = {
    "server_url": "MADOGUCHI_SERVER_URL",
    "terminal": "MADOGUCHI_TERMINAL_CODE",
    "secret": "MADOGUCHI_TERMINAL_SECRET",
    "printer": "MADOGUCHI_A4_PRINTER",
    "printed_dir": "MADOGUCHI_PRINTED_DIR",
    "state_dir": "MADOGUCHI_AGENT_STATE_DIR",
    "card_reader": "MADOGUCHI_CARD_READER",
    "staff_reader": "MADOGUCHI_STAFF_READER",
    "qr_scanner": "MADOGUCHI_QR_SCANNER",
    "receipt_printer": "MADOGUCHI_RECEIPT_PRINTER",
    "heartbeat_seconds": "MADOGUCHI_HEARTBEAT_SECONDS",
}
# broker_url is overridden by CELERY_BROKER_URL or REDIS_URL (devices/agent/broker.py), like the server's.
KEYS = (*ENV_BY_KEY, "broker_url")
PATH_KEYS = ("printed_dir", "state_dir")


class ConfigError(SystemExit):
    """A configuration the agent cannot start with; the message names the file or variable and the reason."""


@dataclass(frozen=True)
class AgentConfig:
    server_url: str
    terminal: str
    secret: str
    printed_dir: Path
    state_dir: Path
    printer: str
    card_reader: str = "simulated"
    staff_reader: str = "none"
    qr_scanner: str = "none"
    receipt_printer: str = "simulated"
    broker_url: str = field(default_factory=broker.broker_url)
    heartbeat_seconds: float = 30.0
    source: Path | None = field(default=None, compare=False)  # the file it was read from

    @classmethod
    def from_env(cls) -> AgentConfig:
        """The configuration a task sees: the file named by MADOGUCHI_AGENT_CONFIG (set by ``python -m
        devices.agent --config …`` for its worker) if any, overlaid by the environment."""
        path = os.environ.get(CONFIG_ENV)
        return cls.load(Path(path) if path else None)

    @classmethod
    def load(cls, path: Path | None) -> AgentConfig:
        """The file at ``path`` (None: no file) overlaid by the environment. Raises ConfigError when the file is
        unreadable or malformed, has an unknown key, or when the terminal code or secret is missing."""
        values = config_file_read(path) if path is not None else {}
        for key, variable in ENV_BY_KEY.items():
            if os.environ.get(variable):
                values[key] = os.environ[variable]
        if os.environ.get("CELERY_BROKER_URL") or os.environ.get("REDIS_URL") or not values.get("broker_url"):
            values["broker_url"] = broker.broker_url()
        missing = [k for k in ("terminal", "secret") if not values.get(k)]
        if missing:
            where = f"{path} or " if path is not None else ""
            variables = ", ".join(ENV_BY_KEY[k] for k in missing)
            raise ConfigError(
                f"agent: set {', '.join(missing)} in {where}the environment ({variables}; see docs/devices.md)"
            )
        try:
            heartbeat = float(values.get("heartbeat_seconds", 30))
        except ValueError:
            raise ConfigError(
                f"agent: heartbeat_seconds must be a number of seconds, not {values['heartbeat_seconds']!r}"
            ) from None
        if heartbeat <= 0:
            raise ConfigError(f"agent: heartbeat_seconds must be positive, not {heartbeat}")
        return cls(
            server_url=str(values.get("server_url") or "http://127.0.0.1:8000").rstrip("/"),
            terminal=str(values["terminal"]),
            secret=str(values["secret"]),
            printed_dir=Path(values.get("printed_dir") or broker.var_dir() / "printed"),
            state_dir=Path(values.get("state_dir") or broker.var_dir() / "agent"),
            printer=str(values.get("printer") or "simulated"),
            card_reader=str(values.get("card_reader") or "simulated"),
            staff_reader=str(values.get("staff_reader") or "none"),
            qr_scanner=str(values.get("qr_scanner") or "none"),
            receipt_printer=str(values.get("receipt_printer") or "simulated"),
            broker_url=str(values["broker_url"]),
            heartbeat_seconds=heartbeat,
            source=path,
        )


def config_file_read(path: Path) -> dict[str, Any]:
    """The file's settings as strings (numbers allowed for heartbeat_seconds). Relative folders are taken relative
    to the file's folder, so a service started from another working directory finds the same state."""
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError(f"agent: config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"agent: cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"agent: config file {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise ConfigError(
            f"agent: config file {path}: unknown key(s) {', '.join(unknown)} (known: {', '.join(KEYS)})"
        )
    for key, value in data.items():
        allowed: tuple[type, ...] = (str, int, float) if key == "heartbeat_seconds" else (str,)
        if isinstance(value, bool) or not isinstance(value, allowed):
            raise ConfigError(f"agent: config file {path}: {key} must be a string, not {value!r}")
    for key in PATH_KEYS:
        if data.get(key):
            data[key] = str(path.parent / Path(data[key]))  # an absolute value stays as it is
    return data


def config_write(path: Path, values: dict[str, str]) -> None:
    """Write (or update: existing keys not in ``values`` are kept) the config file, atomically and readable by its
    owner only. Comments in an existing file are not kept."""
    unknown = sorted(set(values) - set(KEYS))
    if unknown:
        raise ValueError(f"unknown config key(s): {', '.join(unknown)}")
    current: dict[str, Any] = {}
    if path.exists():
        with path.open("rb") as file:
            current = tomllib.load(file)
    current.update(values)
    # JSON string literals are valid TOML basic strings (same escapes), so no TOML writer is needed.
    lines = [
        "# madoguchi counter-PC agent (python -m devices.agent). Holds the terminal secret: keep it private."
    ]
    for key in KEYS:
        if key in current:
            value = current[key]
            literal = (
                str(value) if isinstance(value, int | float) else json.dumps(str(value), ensure_ascii=False)
            )
            lines.append(f"{key} = {literal}")
    private_file_write(path, ("\n".join(lines) + "\n").encode())


def private_file_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (a temporary file renamed over it), with mode 0600 from the start, so
    no other user can read it even for a moment."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(tmp, 0o600)  # O_CREAT's mode does not apply to a leftover file being truncated
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
