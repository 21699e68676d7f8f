"""Shared fixtures: staff users, the starter forms, object storage (a local folder, or S3 through moto's
server on loopback), and a small imported city."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import boto3
import hypothesis
import pytest
from django.test import Client
from pytest_django.fixtures import Settings

from forms_engine.services import form_starter_pack_load
from integrations.models import ImportKind
from integrations.services import ImportResult, residents_import
from integrations.storage import LocalFolderStorage, S3Storage
from madoguchi.accounts.models import User

from .factories import PASSWORD, UserFactory, juki_csv, juki_row

# Property tests judge correctness, not speed: a busy CI machine must not fail them for slow input generation.
hypothesis.settings.register_profile(
    "madoguchi", deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow]
)
hypothesis.settings.load_profile("madoguchi")

IVS_NAME = "葛\U000e0102西"  # Moji_Joho IVS: 葛 + U+E0102
KICHI_NAME = "𠮷田"  # U+20BB7, outside the BMP


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(autouse=True)
def _isolated_storage(settings: Settings, tmp_path: Path) -> None:
    """Every test gets its own object-storage folder and media folder."""
    settings.OBJECT_STORAGE = {
        **settings.OBJECT_STORAGE,
        "BACKEND": "local",
        "LOCAL_ROOT": str(tmp_path / "objects"),
    }
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture(autouse=True)
def _unthrottled(settings: Settings) -> None:
    """Rate limits no test reaches by chance (codes repeat across tests), and the password lockout off: the test
    client's ``login()`` authenticates without a request, which django-axes refuses. Tests of the limits and the
    lockout turn them on. Likewise the one-time code of admin logins (tests/madoguchi/test_second_factor.py, and
    the security suite, turn it on)."""
    settings.MADOGUCHI_THROTTLE_RATES = {scope: "1000000/m" for scope in settings.MADOGUCHI_THROTTLE_RATES}
    settings.AXES_ENABLED = False
    settings.MADOGUCHI_OTP_REQUIRED = False


@pytest.fixture
def local_storage(settings: Settings) -> LocalFolderStorage:
    return LocalFolderStorage(settings.OBJECT_STORAGE["LOCAL_ROOT"])


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A real S3 API (moto in server mode) on loopback; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_server: str, monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Iterator[S3Storage]:
    """A fresh bucket on the moto server, configured as the default object storage."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    name = f"madoguchi-{free_port()}"
    client.create_bucket(Bucket=name)
    settings.OBJECT_STORAGE = {
        "BACKEND": "s3",
        "LOCAL_ROOT": "",
        "BUCKET": name,
        "ENDPOINT_URL": s3_server,
        "REGION": "us-east-1",
    }
    yield S3Storage(name, endpoint_url=s3_server, region="us-east-1")


@pytest.fixture
def starter_forms(db: None) -> None:
    form_starter_pack_load()


def import_file(
    storage: LocalFolderStorage,
    data: bytes,
    *,
    name: str = "JUKI_20261101090000_000001_FULL.csv",
    mapping: str | None = None,
) -> ImportResult:
    """Put ``data`` under inbound/ and import it as a command would (kind from the name)."""
    key = f"inbound/{name}"
    storage.put(key, data)
    kind = ImportKind.DIFF if name.endswith("_DIFF.csv") else ImportKind.FULL
    return residents_import(storage=storage, key=key, kind=kind, mapping=mapping)


SMALL_CITY = [
    juki_row(1, 氏=IVS_NAME, 名="花子", 氏カナ="カサイ", 名カナ="ハナコ", 性別="2", 世帯主氏名=f"{IVS_NAME}　花子",
             住所="窓口市葛西町二丁目3番4号", 方書="メゾン窓口 203号"),
    juki_row(2, 氏=KICHI_NAME, 名="一郎", 氏カナ="ヨシダ", 名カナ="イチロウ", 世帯主氏名=f"{KICHI_NAME}　一郎"),
    juki_row(3, 氏="髙橋", 名="健", 氏カナ="タカハシ", 名カナ="ケン"),
    juki_row(4, 氏="髙橋", 名="ゆい", 氏カナ="タカハシ", 名カナ="ユイ", 続柄="子", 生年月日="2015-06-01",
             世帯番号=juki_row(3)["世帯番号"], 世帯主氏名="髙橋　健"),
]  # fmt: skip


@pytest.fixture
def small_city(db: None, local_storage: LocalFolderStorage) -> ImportResult:
    """Three households; person 1 is 葛+U+E0102 西, person 2 𠮷田, person 3 and 4 share household 3."""
    return import_file(local_storage, juki_csv(SMALL_CITY))


@pytest.fixture
def clerk(db: None) -> User:
    return UserFactory.create(roles=["clerk"])


@pytest.fixture
def clerk_client(clerk: User) -> Client:
    client = Client()
    assert client.login(username=clerk.username, password=PASSWORD)
    return client


def database_dump() -> str:
    """Every row of every table of the test database, as text (to look for a value that must not be there)."""
    from django.db import connection

    rows: list[str] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'SELECT * FROM "{table}"')
            rows += [repr(row) for row in cursor.fetchall()]
    return "\n".join(rows)


def database_url_for_tests() -> str:
    """A DATABASE_URL for other processes (manage.py, Celery workers) to reach the test database."""
    from django.db import connection

    conf = connection.settings_dict
    if conf["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{conf['NAME']}"
    user, password = conf.get("USER") or "", conf.get("PASSWORD") or ""
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return f"postgres://{auth}{conf.get('HOST') or '127.0.0.1'}:{conf.get('PORT') or 5432}/{conf['NAME']}"


def manage_py(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``manage.py`` in a separate process against the test database, as an operator would."""
    import os
    import sys

    root = Path(__file__).resolve().parent.parent
    full_env = {**os.environ, "DATABASE_URL": database_url_for_tests(), **(env or {})}
    return subprocess.run(
        [sys.executable, str(root / "manage.py"), *args],
        capture_output=True,
        text=True,
        check=False,
        env=full_env,
        cwd=root,
        timeout=120,
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests run last. Playwright's sync API keeps an event loop running in the main thread for the rest of
    the session once the browser has started, and tests that run their own loop (asyncio.run, async_to_sync in the
    main thread) cannot run after that."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)
