"""``python -m devices.agent [run] [--config <file.toml>]``: run the agent (a Celery worker on ``terminal.<code>``);
without --config it reads MADOGUCHI_AGENT_CONFIG, else the file ``register`` writes by default if it exists.
``python -m devices.agent register --server <url> --terminal <code> --code <one-time code> [--config <file>]``:
exchange a one-time registration code for the terminal's secret and write it into the config file."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import requests

from . import broker
from .config import CONFIG_ENV, AgentConfig, ConfigError, config_write


def default_config_path() -> Path:
    """Where ``register`` writes without --config: MADOGUCHI_AGENT_CONFIG, else
    %ProgramData%\\madoguchi\\agent.toml on Windows, else <MADOGUCHI_VAR_DIR>/agent.toml."""
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    if os.name == "nt":
        return Path(os.environ.get("PROGRAMDATA", "C:/ProgramData")) / "madoguchi" / "agent.toml"
    return broker.var_dir() / "agent.toml"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devices.agent", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser("run", help="run the agent (the default)")
    run.add_argument(
        "--config", type=Path, help="the agent's TOML file (else MADOGUCHI_AGENT_CONFIG; optional)"
    )
    register = commands.add_parser("register", help="register this PC as a terminal with a one-time code")
    register.add_argument(
        "--server", required=True, help="the web server's root URL, e.g. https://madoguchi.example"
    )
    register.add_argument("--terminal", required=True, help="the terminal's code, e.g. K01")
    register.add_argument("--code", required=True, help="the one-time registration code from the status page")
    register.add_argument(
        "--config", type=Path, default=default_config_path(), help="the file to write (default: %(default)s)"
    )
    return parser


def run(config_path: Path | None) -> None:
    from .app import agent_app

    if config_path is None:
        # --config, else MADOGUCHI_AGENT_CONFIG, else the file `register` wrote if there is one.
        default = default_config_path()
        config_path = default if os.environ.get(CONFIG_ENV) or default.is_file() else None
    config = AgentConfig.load(config_path)
    if config_path is not None:
        # The tasks read their configuration with AgentConfig.from_env(): point it at the same file.
        os.environ[CONFIG_ENV] = str(config_path.resolve())
    drivers_check(config)
    agent_app.conf.update(
        broker_url=config.broker_url,
        broker_transport_options=broker.broker_transport_options(config.broker_url),
    )
    agent_app.worker_main(
        [
            "worker",
            "-Q",
            f"terminal.{config.terminal}",
            "-n",
            f"agent-{config.terminal}@%h",
            "--pool=solo",
            "--without-gossip",
            "--without-mingle",
            "-l",
            "info",
        ]
    )


def drivers_check(config: AgentConfig) -> None:
    """Build every configured driver once, so a setting the agent cannot use stops it now with its message
    (SystemExit), not at the first card, scan or job."""
    from .cards.staff import staff_reader
    from .drivers import a4_printer, card_reader
    from .qr_scanner import qr_scanner
    from .receipt import receipt_printer

    a4_printer(config)
    card_reader(config)
    if config.receipt_printer != "none":
        receipt_printer(config)
    qr_scanner(config)
    staff_reader(config)


def register(*, server: str, terminal: str, code: str, config_path: Path) -> int:
    """Register and write the secret; the exit status for the shell."""
    from .client import RegistrationRefused, terminal_register

    server = server.rstrip("/")
    try:
        secret = terminal_register(server_url=server, terminal=terminal, code=code)
    except RegistrationRefused as refused:
        print(
            f"agent: the server refused registering terminal {terminal}: {refused}\n"
            "  Ask an administrator for a new registration code (端末の状態 page) and try again.",
            file=sys.stderr,
        )
        return 2
    except requests.RequestException as exc:
        print(
            f"agent: cannot reach the server at {server} ({type(exc).__name__}): check the URL and the network",
            file=sys.stderr,
        )
        return 3
    try:
        config_write(config_path, {"server_url": server, "terminal": terminal, "secret": secret})
    except (OSError, ValueError) as exc:
        print(
            f"agent: registered, but cannot write {config_path}: {exc}. Ask for a new code once it is writable.",
            file=sys.stderr,
        )
        return 4
    print(
        f"agent: terminal {terminal} registered; its secret is in {config_path} (readable by its owner only)"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "register":
            return register(
                server=args.server, terminal=args.terminal, code=args.code, config_path=args.config
            )
        run(getattr(args, "config", None))
    except ConfigError as exc:
        print(exc.code, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
