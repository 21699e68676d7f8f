"""Backups: `manage.py backup` writes the database and files, encrypted, to object storage; `restore` brings them
back into a fresh database, row for row and byte for byte."""

from __future__ import annotations

import io
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from integrations.storage import LocalFolderStorage, S3Storage
from madoguchi.audit.models import AuditAction, AuditEvent
from madoguchi.audit.services import audit_record
from madoguchi.operations import backup
from tests.factories import UserFactory

MJ_NAME = "𠮷田 葛\U000e0100城 髙橋"  # beyond the BMP, an IVS, an 異体字: all must come back byte for byte
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 64


@pytest.fixture(autouse=True)
def _own_prefix(settings: Any) -> None:
    """Each test's backups under a prefix of its own (the test storage outlives a test)."""
    settings.MADOGUCHI_BACKUP_PREFIX = f"backups/{uuid.uuid4().hex[:8]}/"


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    root = tmp_path / "media"
    (root / "print-jobs" / "2026" / "12" / "07").mkdir(parents=True)
    (root / "print-jobs" / "2026" / "12" / "07" / "job-1.pdf").write_bytes(PDF)
    settings.MEDIA_ROOT = str(root)
    return root


def _seed() -> None:
    user = UserFactory.create(roles=["clerk"], display_name=MJ_NAME, staff_no="9001")
    for n in range(5):
        audit_record(actor=user, action=AuditAction.VIEW, target_type="resident", target_ref=f"{n:015d}")


def _rows_django(table: str) -> list[tuple]:
    """The rows of the database under test, as its driver gives them (no Django conversions)."""
    if connection.vendor == "sqlite":
        name = str(connection.settings_dict["NAME"])
        with sqlite3.connect(name, uri=name.startswith("file:")) as db:
            return sorted(db.execute(f'SELECT * FROM "{table}"').fetchall(), key=repr)
    import psycopg

    with psycopg.connect(**backup._pg_connect_args(connection.settings_dict)) as db:
        return sorted(db.execute(f'SELECT * FROM "{table}"').fetchall(), key=repr)


@pytest.fixture
def fresh_database(tmp_path: Path) -> Iterator[tuple[dict[str, Any], Any]]:
    """An empty database of the vendor under test, and a function reading a table of it."""
    if connection.vendor == "sqlite":
        conf = {**connection.settings_dict, "NAME": str(tmp_path / "restored.sqlite3")}

        def rows(table: str) -> list[tuple]:
            with sqlite3.connect(conf["NAME"]) as db:
                return sorted(db.execute(f'SELECT * FROM "{table}"').fetchall(), key=repr)

        yield conf, rows
        return
    import psycopg

    name = f"madoguchi_restore_{uuid.uuid4().hex[:12]}"
    conf = {**connection.settings_dict, "NAME": name}
    admin = backup._pg_connect_args({**conf, "NAME": "postgres"})
    with psycopg.connect(**admin, autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')

    def rows_pg(table: str) -> list[tuple]:
        with psycopg.connect(**backup._pg_connect_args(conf)) as db:
            return sorted(db.execute(f'SELECT * FROM "{table}"').fetchall(), key=repr)

    yield conf, rows_pg
    with psycopg.connect(**admin, autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.django_db(transaction=True)
def test_a_backup_restores_into_a_fresh_database_row_for_row(
    media: Path, local_storage: LocalFolderStorage, fresh_database, tmp_path: Path
) -> None:
    _seed()
    call_command("audit_verify", stdout=io.StringIO())  # the chain before
    made = backup.backup_create()
    assert "/madoguchi-" in made.key and made.key.endswith(".backup")
    stored = Path(local_storage.describe(made.key)).read_bytes()
    assert stored.startswith(backup.MAGIC)
    assert MJ_NAME.encode() not in stored and b"%PDF-1.7" not in stored  # encrypted
    assert made.manifest["vendor"] == connection.vendor
    assert made.manifest["migrations"]["accounts"].startswith("00")

    conf, rows = fresh_database
    restored_media = tmp_path / "restored-media"
    manifest = backup.backup_restore(
        made.key, database=conf, vendor=connection.vendor, media_root=restored_media
    )
    assert manifest == made.manifest

    tables = connection.introspection.table_names()
    assert "audit_auditevent" in tables and "accounts_user" in tables
    for table in tables:
        assert rows(table) == _rows_django(table), table
    names = [row for row in rows("accounts_user") if MJ_NAME in row]
    assert len(names) == 1
    # The backup was audited as an export before its dump: the restored log holds the record of its making.
    assert AuditEvent.objects.filter(
        action=AuditAction.EXPORT, target_type="backup", target_ref=made.key
    ).exists()
    assert any(made.key in row for row in rows("audit_auditevent"))
    assert (restored_media / "print-jobs" / "2026" / "12" / "07" / "job-1.pdf").read_bytes() == PDF


@pytest.mark.django_db(transaction=True)
def test_restored_postgresql_keeps_the_audit_logs_refusal_of_updates(
    media: Path, local_storage: LocalFolderStorage, fresh_database
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip(
            "the audit log's triggers are PostgreSQL's (SQLite's refusal is tested in test_audit_chain)"
        )
    import psycopg

    _seed()
    made = backup.backup_create()
    conf, _rows = fresh_database
    backup.backup_restore(made.key, database=conf, vendor="postgresql", media_root=media)
    with psycopg.connect(**backup._pg_connect_args(conf)) as db, pytest.raises(psycopg.Error):
        db.execute("UPDATE audit_auditevent SET target_ref = 'x'")


@pytest.mark.django_db(transaction=True)
def test_backup_to_s3_and_restore_from_it(
    media: Path, s3_bucket: S3Storage, fresh_database, tmp_path
) -> None:
    _seed()
    made = backup.backup_create()
    assert backup.backups_list() == [made.key] and s3_bucket.exists(made.key)
    conf, rows = fresh_database
    backup.backup_restore("latest", database=conf, vendor=connection.vendor, media_root=tmp_path / "m")
    assert rows("accounts_user") == _rows_django("accounts_user")


@pytest.mark.django_db(transaction=True)
def test_a_damaged_backup_or_another_key_is_refused_and_nothing_is_written(
    media: Path, local_storage: LocalFolderStorage, fresh_database, settings: Any, tmp_path: Path
) -> None:
    _seed()
    made = backup.backup_create()
    path = Path(local_storage.describe(made.key))
    good = path.read_bytes()
    conf, _rows = fresh_database
    target_media = tmp_path / "m"

    def restore() -> None:
        backup.backup_restore(made.key, database=conf, vendor=connection.vendor, media_root=target_media)

    assert backup.backup_verify(made.key)["sha256"] == made.manifest["sha256"]
    path.write_bytes(good[:200] + bytes([good[200] ^ 1]) + good[201:])
    with pytest.raises(backup.BackupError, match="chunk 0 does not decrypt"):
        restore()
    with pytest.raises(backup.BackupError, match="chunk 0 does not decrypt"):
        backup.backup_verify(made.key)
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(backup.BackupError, match="cut short"):
        restore()
    path.write_bytes(b"PK\x03\x04 not ours")
    with pytest.raises(backup.BackupError, match="not a madoguchi backup"):
        restore()
    path.write_bytes(good)
    settings.MADOGUCHI_BACKUP_KEY = "A" * 43 + "="  # 32 bytes, but not the key it was made with
    with pytest.raises(backup.BackupError, match="another backup key"):
        restore()
    assert backup._tables(conf, connection.vendor) == [] and not target_media.exists()


@pytest.mark.django_db(transaction=True)
def test_restore_refuses_a_database_with_tables_unless_replace(
    media: Path, local_storage: LocalFolderStorage
) -> None:
    _seed()
    out = io.StringIO()
    call_command("backup", stdout=out)
    assert "backup stored and verified" in out.getvalue()
    call_command("backup", "--verify", "latest", stdout=out)
    assert "backup intact" in out.getvalue()
    with pytest.raises(CommandError, match=r"already has tables.*--replace"):
        call_command("restore", "latest", stdout=io.StringIO())
    # With --replace, the database is as it was at the backup: a record written after it is gone.
    user = UserFactory.create()
    audit_record(actor=user, action=AuditAction.VIEW, target_type="resident", target_ref="999")
    if connection.vendor == "sqlite":
        call_command("restore", "latest", "--replace", stdout=io.StringIO())
        assert not AuditEvent.objects.filter(target_ref="999").exists()
        assert AuditEvent.objects.filter(target_type="resident").count() == 5
        restored = AuditEvent.objects.get(action=AuditAction.IMPORT, target_type="backup")
        assert restored.detail["kind"] == "restored" and restored.target_ref == "latest"


@pytest.mark.django_db
def test_backup_before_migrations_only_when_some_are_pending(local_storage: LocalFolderStorage) -> None:
    out = io.StringIO()
    call_command("backup", "--if-migrations-pending", stdout=out)
    assert "no migrations pending" in out.getvalue()
    assert backup.backups_list() == []


def test_old_backups_are_pruned_but_the_newest_always_stays(tmp_path: Path, settings: Any) -> None:
    import datetime as dt

    storage = LocalFolderStorage(tmp_path)
    settings.MADOGUCHI_BACKUP_KEEP_DAYS = 30
    prefix = settings.MADOGUCHI_BACKUP_PREFIX
    keys = [f"{prefix}madoguchi-2026{month}01T023000000000Z.backup" for month in ("10", "11", "12")]
    for key in keys:
        storage.put(key, b"x")
    storage.put(f"{prefix}notes.txt", b"not a backup")
    assert backup.backups_prune(storage=storage, now=dt.datetime(2026, 11, 20, tzinfo=dt.UTC)) == keys[:1]
    assert backup.backups_prune(storage=storage, now=dt.datetime(2027, 6, 1, tzinfo=dt.UTC)) == keys[1:2]
    assert backup.backups_list(storage) == keys[2:]
    assert storage.exists(f"{prefix}notes.txt")


def test_encryption_round_trips_any_length() -> None:
    key = bytes(range(32))
    for size in (0, 1, backup.CHUNK - 1, backup.CHUNK, backup.CHUNK + 1, 3 * backup.CHUNK):
        plain = bytes(n % 251 for n in range(size))
        sealed, opened = io.BytesIO(), io.BytesIO()
        backup.encrypt_stream(io.BytesIO(plain), sealed, key)
        sealed.seek(0)
        backup.decrypt_stream(sealed, opened, key, where="test")
        assert opened.getvalue() == plain, size


@pytest.mark.django_db(transaction=True)
def test_a_file_deleted_while_the_backup_runs_is_left_out_not_a_failure(
    media: Path, local_storage: LocalFolderStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    listed = list(backup._media_files(media))
    monkeypatch.setattr(backup, "_media_files", lambda root: [*listed, root / "print-jobs" / "gone.pdf"])
    made = backup.backup_create()
    assert sorted(made.manifest["sha256"]) == [
        "database." + ("sqlite3" if connection.vendor == "sqlite" else "pgdump"),
        "media/print-jobs/2026/12/07/job-1.pdf",
    ]
    assert backup.backup_verify(made.key) == made.manifest
