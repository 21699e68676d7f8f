"""``python -m madoguchi.demo`` (what ``make demo`` runs): the whole system on embedded defaults.

Migrates the SQLite database under var/, creates the demo city, then runs web, a Celery worker with beat, and one
simulated counter agent as separate processes until Ctrl-C, which stops them all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from devices.agent import broker

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent


def _run(*args: str) -> None:
    subprocess.run([PYTHON, str(ROOT / "manage.py"), *args], check=True, cwd=ROOT)


def _banner(url: str) -> str:
    from counters.management.commands.demo_setup import DEMO_PASSWORD
    from madoguchi.accounts.roles import ROLE_LABELS, Role

    lines = [
        "",
        "madoguchi demo is running.",
        f"  Open {url}/  (admin: {url}/admin/)",
        f"  Every demo login has the password: {DEMO_PASSWORD}",
        "  (one-time codes for admin roles are off in the demo: MADOGUCHI_OTP_REQUIRED=1 turns them on)",
    ]
    for role in Role:
        lines.append(f"    demo-{role.value.replace('_', '-'):<18} {ROLE_LABELS[role]}")
    lines += [
        f"  Printed PDFs appear in {broker.var_dir() / 'printed'}",
        f"  Exported CSV appears in {broker.var_dir() / 'objects' / 'outbound'}",
        "  Press Ctrl-C to stop.",
        "",
    ]
    return "\n".join(lines)


def web_command(port: str) -> list[str]:
    """gunicorn serving madoguchi.asgi with uvicorn workers (server-sent events keep no busy thread). ONE process:
    without Redis the push channel is an in-process hub, which reaches only the streams of the publishing process.
    Open event streams keep a worker busy on shutdown until the graceful timeout, well inside the 15 s stop below."""
    return [
        str(BIN / "gunicorn"),
        "madoguchi.asgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--worker-class",
        "uvicorn_worker.UvicornWorker",
        "--workers",
        "1",
        "--graceful-timeout",
        "5",
        "--access-logfile",
        "-",
    ]


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "madoguchi.settings")
    # The demo shows a reception's batch as soon as it is finished (a city flushes on a schedule: docs/outbound.md).
    os.environ.setdefault("MADOGUCHI_EXPORT_FLUSH_ROWS", "1")
    # Admin roles log in with a one-time code from an authenticator app; the demo skips that unless asked.
    os.environ.setdefault("MADOGUCHI_OTP_REQUIRED", "0")
    port = os.environ.get("MADOGUCHI_DEMO_PORT", "8000")
    url = f"http://127.0.0.1:{port}"
    var = broker.var_dir()
    var.mkdir(parents=True, exist_ok=True)

    _run("migrate", "--noinput", "-v", "0")
    _run("collectstatic", "--noinput", "-v", "0")
    _run("demo_setup")

    import django

    django.setup()
    from counters.management.commands.demo_setup import DEMO_TERMINAL_CODE, DEMO_TERMINAL_SECRET

    agent_env = {
        **os.environ,
        "MADOGUCHI_SERVER_URL": url,
        "MADOGUCHI_TERMINAL_CODE": DEMO_TERMINAL_CODE,
        "MADOGUCHI_TERMINAL_SECRET": DEMO_TERMINAL_SECRET,
    }
    commands = {
        "web": (web_command(port), os.environ),
        "worker": (
            [
                str(BIN / "celery"),
                "-A",
                "madoguchi",
                "worker",
                "-B",
                "-Q",
                "default,imports,exports,render",
                "--concurrency",
                "2",
                "-n",
                "worker@%h",
                "-l",
                "info",
                "-s",
                str(var / "celerybeat-schedule"),
            ],
            os.environ,
        ),
        "agent": ([PYTHON, "-m", "devices.agent"], agent_env),
    }
    processes: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for name, (argv, env) in commands.items():
        # Own process groups: Ctrl-C reaches only this launcher, which stops the children in order.
        processes[name] = subprocess.Popen(argv, cwd=ROOT, env=dict(env), start_new_session=True)
    print(_banner(url), flush=True)

    exit_code = 0
    while not stopping:
        for name, process in processes.items():
            if process.poll() is not None:
                print(f"madoguchi demo: {name} exited with {process.returncode}; stopping", file=sys.stderr)
                exit_code = 1
                stopping = True
                break
        time.sleep(0.5)

    print("\nmadoguchi demo: stopping …", flush=True)
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for process in processes.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
    print("madoguchi demo: stopped.", flush=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
