"""Browser tests: Playwright (Python) driving Debian's Chromium against pytest-django's live server, with the
counter agent and a Celery worker running as real separate processes on the same broker."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import database_url_for_tests

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.fail(
            "Debian's Chromium is missing: run `make test` (installs it as root) or apt-get install chromium"
        )
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the live server's database is still used
    # synchronously from the test's own code.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-background-networking",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


class Process:
    """A child process whose output is kept for the failure report."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.log = name, log
        self._file = log.open("wb")
        self.popen = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=self._file, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        self.popen.terminate()
        try:
            self.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.popen.kill()
        self._file.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[object]:
    """Start processes with the test database and this test's object storage; stop them afterwards."""
    from django.conf import settings

    started: list[Process] = []

    def start(name: str, argv: list[str], **extra_env: str) -> Process:
        env = {
            **os.environ,
            "DATABASE_URL": database_url_for_tests(),
            "OBJECT_STORAGE_BACKEND": "local",
            "OBJECT_STORAGE_LOCAL_ROOT": settings.OBJECT_STORAGE["LOCAL_ROOT"],
            **extra_env,
        }
        process = Process(name, argv, env, tmp_path / f"{name}.log")
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


def celery_argv(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "celery"), *args]
