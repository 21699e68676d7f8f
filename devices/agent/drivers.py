"""Device drivers of the agent, behind one interface per device kind, each kind a small registry."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from .config import AgentConfig


class PrintFailed(Exception):
    """The printer refused or failed the job; the message says why."""


class A4Printer(Protocol):
    def print_pdf(self, *, name: str, pdf: bytes) -> str:
        """Print and return a short description of where it went."""
        ...


class SimulatedA4Printer:
    """Writes each PDF into a folder instead of onto paper (demo and tests)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def print_pdf(self, *, name: str, pdf: bytes) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / name
        tmp = path.with_suffix(".part")
        tmp.write_bytes(pdf)
        tmp.replace(path)
        return str(path)


class CupsA4Printer:
    """A CUPS queue through ``lp`` (Linux counter PCs). Windows: see docs/devices.md."""

    def __init__(self, queue: str) -> None:
        self.queue = queue

    def print_pdf(self, *, name: str, pdf: bytes) -> str:
        result = subprocess.run(
            ["lp", "-d", self.queue, "-t", name, "-"],
            input=pdf,
            capture_output=True,
            check=False,
        )
        if result.returncode != 0:
            raise PrintFailed(
                result.stderr.decode(errors="replace").strip() or f"lp exited {result.returncode}"
            )
        return result.stdout.decode(errors="replace").strip()


A4_PRINTERS: dict[str, Callable[[AgentConfig], A4Printer]] = {
    "simulated": lambda config: SimulatedA4Printer(config.printed_dir),
}


def a4_printer(config: AgentConfig) -> A4Printer:
    """``MADOGUCHI_A4_PRINTER``: ``simulated`` or ``cups:<queue>``."""
    if config.printer.startswith("cups:"):
        return CupsA4Printer(config.printer.removeprefix("cups:"))
    try:
        return A4_PRINTERS[config.printer](config)
    except KeyError:
        raise SystemExit(f"agent: unknown A4 printer {config.printer!r}") from None
