"""Agent configuration from the environment (documented in .env.example)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import broker


@dataclass(frozen=True)
class AgentConfig:
    server_url: str
    terminal: str
    secret: str
    printed_dir: Path
    state_dir: Path
    printer: str
    card_reader: str = "simulated"

    @classmethod
    def from_env(cls) -> AgentConfig:
        missing = [
            v for v in ("MADOGUCHI_TERMINAL_CODE", "MADOGUCHI_TERMINAL_SECRET") if not os.environ.get(v)
        ]
        if missing:
            raise SystemExit(f"agent: set {', '.join(missing)} (see .env.example)")
        return cls(
            server_url=os.environ.get("MADOGUCHI_SERVER_URL", "http://127.0.0.1:8000").rstrip("/"),
            terminal=os.environ["MADOGUCHI_TERMINAL_CODE"],
            secret=os.environ["MADOGUCHI_TERMINAL_SECRET"],
            printed_dir=Path(os.environ.get("MADOGUCHI_PRINTED_DIR") or broker.var_dir() / "printed"),
            state_dir=Path(os.environ.get("MADOGUCHI_AGENT_STATE_DIR") or broker.var_dir() / "agent"),
            printer=os.environ.get("MADOGUCHI_A4_PRINTER", "simulated"),
            card_reader=os.environ.get("MADOGUCHI_CARD_READER", "simulated"),
        )
