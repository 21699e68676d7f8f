"""Celery broker configuration and the var/ folder, from the environment. Shared by the server (settings.py) and
the counter-PC agent, which runs without Django: this module, like the rest of devices.agent, imports nothing from
the ``madoguchi`` package, whose Celery app would install Django's fix-up in the agent's worker."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]


def var_dir() -> Path:
    return Path(os.environ.get("MADOGUCHI_VAR_DIR") or BASE_DIR / "var")


def broker_url() -> str:
    """CELERY_BROKER_URL, else REDIS_URL, else the server-less filesystem transport."""
    return os.environ.get("CELERY_BROKER_URL") or os.environ.get("REDIS_URL") or "filesystem://"


def broker_transport_options(url: str) -> dict[str, object]:
    if url.startswith("filesystem"):
        folder = str(Path(os.environ.get("CELERY_BROKER_DIR") or var_dir() / "broker"))
        Path(folder).mkdir(parents=True, exist_ok=True)
        # kombu writes exchange definitions to control_folder, by default relative to the working directory.
        control = str(Path(folder) / "control")
        return {
            "data_folder_in": folder,
            "data_folder_out": folder,
            "control_folder": control,
            "polling_interval": 0.2,
        }
    return {"visibility_timeout": 3600}
