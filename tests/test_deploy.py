"""docker-compose.yml stays valid: no Docker engine runs here, so its structure is checked, and a compose CLI
parses it where one is installed. The web server command of the image and of the demo serves the ASGI app."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

from .conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"


def test_compose_file_has_the_production_stack_with_health_checks() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert {"web", "worker", "beat", "postgres", "redis", "minio"} <= services.keys()
    env = services["web"]["environment"]
    assert all(services[name]["environment"] == env for name in ("worker", "beat", "migrate"))
    assert env["DATABASE_URL"].startswith("postgres://") and "redis" in env["REDIS_URL"]
    assert env["OBJECT_STORAGE_BACKEND"] == "s3"
    for name in ("web", "worker", "postgres", "redis", "minio"):
        assert "healthcheck" in services[name], name


def test_compose_config_parses_when_a_compose_cli_is_available() -> None:
    for argv in (["docker", "compose"], ["docker-compose"]):
        if not shutil.which(argv[0]):
            continue
        result = subprocess.run([*argv, "-f", str(COMPOSE), "config", "-q"], capture_output=True, check=False)
        if argv == ["docker", "compose"] and b"unknown" in result.stderr:
            continue  # the docker client without its compose plugin
        assert result.returncode == 0, result.stderr.decode()
        return
    pytest.skip("no compose CLI on this machine (docker compose or docker-compose)")


# --- The web server command (Dockerfile CMD, make demo) -----------------------------------------------------------

DOCKERFILE = ROOT / "Dockerfile"


def image_command() -> list[str]:
    """The Dockerfile's CMD (exec form)."""
    cmd = [line for line in DOCKERFILE.read_text().splitlines() if line.startswith("CMD ")]
    assert len(cmd) == 1, cmd
    return list(json.loads(cmd[0].removeprefix("CMD ")))


def test_web_serves_the_asgi_app_with_gunicorns_uvicorn_workers() -> None:
    from madoguchi.demo import web_command

    demo = web_command("8000")
    for argv in (image_command(), demo):
        assert Path(argv[0]).name == "gunicorn"
        assert argv[1] == "madoguchi.asgi:application"
        assert argv[argv.index("--worker-class") + 1] == "uvicorn_worker.UvicornWorker"
    # The embedded default has no Redis: its in-process push hub reaches only the streams of one web process.
    assert demo[demo.index("--workers") + 1] == "1"


def test_the_image_command_serves_static_files_under_asgi(tmp_path: Path) -> None:
    """The CMD as the image runs it (on a loopback port, one worker): static files come back whole, and Django does
    not warn about reading synchronous iterators (it would for every file without madoguchi.asgi's handler)."""
    argv = image_command()
    argv[0] = str(Path(sys.executable).parent / "gunicorn")
    port = free_port()
    argv[argv.index("--bind") + 1] = f"127.0.0.1:{port}"
    argv[argv.index("--workers") + 1] = "1"
    argv.append("--no-control-socket")  # leave a running demo's control socket alone
    log = tmp_path / "gunicorn.log"
    env = {**os.environ, "PYTHONWARNINGS": "always", "DJANGO_SETTINGS_MODULE": "madoguchi.settings"}
    with log.open("wb") as output:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/static/css/madoguchi.css"
        deadline = time.monotonic() + 60
        while True:
            try:
                response = requests.get(url, timeout=10)
                break
            except requests.ConnectionError:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        again = requests.get(url, timeout=10)
    finally:
        process.terminate()
        process.wait(timeout=60)
    css = (ROOT / "static" / "css" / "madoguchi.css").read_bytes()
    assert (response.status_code, response.content) == (200, css)
    assert (again.status_code, again.content) == (200, css)
    assert "uvicorn_worker.UvicornWorker" in log.read_text()
    assert "iterator" not in log.read_text()
