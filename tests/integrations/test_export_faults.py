"""Faults of the outbound flush against a real S3 API on loopback (moto in server mode, driven through boto3):
storage stopped before or in the middle of a batch, the flushing process killed in the middle. Each time: no batch
is visible without its manifest, the batch is written later under the same keys, and no reception is doubled."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from integrations.models import ExportBatch, ExportItem, ExportStatus
from integrations.outbound import ExportRows, export_flush, outbox_put
from integrations.storage import S3Storage
from tests.conftest import database_url_for_tests, free_port

ROOT = Path(__file__).resolve().parents[2]
HEADER = ["受付番号", "氏名"]


class Moto:
    """A moto S3 server of this test's own, which the test can stop and start again on the same port (moto keeps
    its buckets in the process, so they survive)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: ThreadedMotoServer | None = None

    def start(self) -> None:
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[Moto]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    server = Moto()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def bucket(moto: Moto, settings) -> S3Storage:
    name = f"outbound-{moto.port}"
    boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1").create_bucket(Bucket=name)
    settings.OBJECT_STORAGE = {
        "BACKEND": "s3",
        "LOCAL_ROOT": "",
        "BUCKET": name,
        "ENDPOINT_URL": moto.url,
        "REGION": "us-east-1",
    }
    return S3Storage(name, endpoint_url=moto.url, region="us-east-1")


def _receptions(count: int, kinds: tuple[str, ...] = ("juminido",)) -> list[str]:
    numbers = [f"R{n:03d}" for n in range(count)]
    for number in numbers:
        outbox_put(
            reception_no=number,
            exports=[ExportRows(kind, f"{kind}@1", HEADER, [[number, "髙橋　一郎"]]) for kind in kinds],
            pdf=b"%PDF-1.7\n%%EOF\n",
        )
    return numbers


def _visible(storage: S3Storage) -> dict[str, list[str]]:
    """What a robot sees: for each manifest, the reception numbers in the CSVs it lists."""
    seen: dict[str, list[str]] = {}
    for key in storage.list("outbound/"):
        if not key.endswith(".manifest.json"):
            continue
        prefix = key.rpartition("/")[0] + "/"
        body = json.loads(storage.get(key))
        numbers: list[str] = []
        for entry in body["files"]:
            if entry["file"].endswith(".csv") and "substitutions" not in entry["file"]:
                rows = list(csv.reader(io.StringIO(storage.get(prefix + entry["file"]).decode(), newline="")))
                numbers += [row[0] for row in rows[1:]]
        seen[key] = numbers
    return seen


def _each_once(seen: dict[str, list[str]], numbers: list[str]) -> None:
    every = [number for batch in seen.values() for number in batch]
    assert sorted(every) == sorted(numbers), "every reception exactly once"


@pytest.mark.django_db
def test_storage_down_during_a_flush_writes_nothing_visible_and_the_next_flush_writes_it(
    moto: Moto, bucket: S3Storage
) -> None:
    numbers = _receptions(3)
    moto.stop()
    assert export_flush() == []
    batch = ExportBatch.objects.get()
    assert batch.written_at is None and batch.attempts == 1 and batch.last_error
    assert set(ExportItem.objects.values_list("status", flat=True)) == {ExportStatus.PENDING}
    moto.start()
    assert _visible(bucket) == {}
    (manifest,) = export_flush()
    assert manifest == batch.manifest_key
    _each_once(_visible(bucket), numbers)
    assert export_flush() == [] and ExportBatch.objects.count() == 1


@pytest.mark.django_db
def test_storage_lost_in_the_middle_of_a_batch_leaves_no_manifest_and_no_double(
    moto: Moto, bucket: S3Storage
) -> None:
    numbers = _receptions(4, kinds=("juminido", "kokuho_ido"))

    class StopsAfterTwoWrites(S3Storage):
        writes = 0

        def put(self, key: str, data: bytes) -> None:
            super().put(key, data)
            StopsAfterTwoWrites.writes += 1
            if StopsAfterTwoWrites.writes == 2:
                moto.stop()

    assert export_flush(storage=StopsAfterTwoWrites(bucket.bucket, endpoint_url=moto.url)) == []
    moto.start()
    partial = bucket.list("outbound/")
    assert partial and not any(key.endswith(".manifest.json") for key in partial)
    assert _visible(bucket) == {}
    # More receptions arrive while the batch waits: they go in a batch of their own.
    later = _receptions(6)[4:]
    assert len(export_flush()) == 2
    seen = _visible(bucket)
    juminido = [n for batch in seen.values() for n in batch if n]
    assert sorted(juminido) == sorted(numbers * 2 + later), "each reception once per kind"
    first = ExportBatch.objects.order_by("pk")[0]
    assert sorted(seen[first.manifest_key]) == sorted(numbers * 2)


FLUSH_THEN_HANG = """
import os, sys, time, django
django.setup()
from integrations.outbound import export_flush
from integrations.storage import default_storage

class Hangs(type(default_storage())):
    def put(self, key, data):
        super().put(key, data)
        open(sys.argv[1], "a").write(key + "\\n")
        time.sleep(60)  # killed here, after the first file

export_flush(storage=Hangs(**{"bucket": os.environ["BUCKET"], "endpoint_url": os.environ["ENDPOINT"]}))
"""


@pytest.mark.django_db(transaction=True)
def test_a_flush_killed_in_the_middle_is_finished_by_the_next_one(
    moto: Moto, bucket: S3Storage, tmp_path: Path, settings
) -> None:
    numbers = _receptions(5, kinds=("juminido", "kokuho_ido"))
    progress = tmp_path / "written"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "madoguchi.settings",
        "DATABASE_URL": database_url_for_tests(),
        "OBJECT_STORAGE_BACKEND": "s3",
        "OBJECT_STORAGE_BUCKET": bucket.bucket,
        "OBJECT_STORAGE_ENDPOINT_URL": moto.url,
        "OBJECT_STORAGE_REGION": "us-east-1",
        "MADOGUCHI_MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "BUCKET": bucket.bucket,
        "ENDPOINT": moto.url,
    }
    worker = subprocess.Popen(
        [sys.executable, "-c", FLUSH_THEN_HANG, str(progress)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not progress.exists() and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.1)
        assert progress.exists(), worker.stdout.read().decode() if worker.stdout else ""
        worker.send_signal(signal.SIGKILL)
    finally:
        worker.wait(timeout=30)
    assert len(progress.read_text().splitlines()) == 1
    batch = ExportBatch.objects.get()
    assert batch.written_at is None
    assert _visible(bucket) == {}
    (manifest,) = export_flush()
    assert manifest == batch.manifest_key
    assert sorted(_visible(bucket)[manifest]) == sorted(numbers * 2)
    assert ExportBatch.objects.count() == 1
