"""Backups: the database and the app's files, encrypted, in object storage; and their restore.

A backup is one object, ``<MADOGUCHI_BACKUP_PREFIX>madoguchi-<UTC time>.backup``: a gzipped tar, encrypted in
chunks with AES-256-GCM under the backup key (``fieldcrypt.backup_key``). The tar holds

- ``manifest.json``: format, time, database vendor, the last migration of every app, and each member's SHA-256;
- ``database.sqlite3`` (SQLite's online backup) or ``database.pgdump`` (``pg_dump -Fc``: schema, data, the audit
  log's triggers);
- ``media/…``: the files under MEDIA_ROOT (print jobs' and the outbox's PDFs).

Encrypted format: ``MAGIC``, an 8-byte random nonce prefix, then chunks of ``length (4 bytes) + ciphertext`` of
at most ``CHUNK`` plain bytes each; a chunk's nonce is the prefix + its 4-byte index, and its associated data says
whether it is the last, so a file cut short, reordered or altered does not decrypt.

Restore refuses a database that already has tables unless told to replace it. The individual numbers and other
sealed columns need the same MADOGUCHI_DATA_KEY (or SECRET_KEY) as when the backup was made: keep the keys apart
from the backups.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.db import connections
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone

from integrations.storage import ObjectStorage, StorageError, default_storage
from madoguchi.audit.models import AuditAction
from madoguchi.audit.services import audit_record
from madoguchi.fieldcrypt import backup_key

MAGIC = b"MADOGUCHI-BACKUP-1\n"
CHUNK = 1024 * 1024
FORMAT = 1


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says what and where."""


@dataclass(frozen=True)
class BackupInfo:
    key: str
    size: int
    manifest: dict[str, Any]


# --- encryption ---------------------------------------------------------------------------------------------


def encrypt_stream(source: IO[bytes], target: IO[bytes], key: bytes) -> None:
    aead, prefix = AESGCM(key), os.urandom(8)
    target.write(MAGIC + prefix)
    index, chunk = 0, source.read(CHUNK)
    while True:
        following = source.read(CHUNK)
        last = not following
        sealed = aead.encrypt(
            prefix + struct.pack(">I", index), chunk, MAGIC + (b"\x01" if last else b"\x00")
        )
        target.write(struct.pack(">I", len(sealed)) + sealed)
        if last:
            return
        index, chunk = index + 1, following


def decrypt_stream(source: IO[bytes], target: IO[bytes], key: bytes, *, where: str) -> None:
    if source.read(len(MAGIC)) != MAGIC:
        raise BackupError(f"{where}: not a madoguchi backup (the file does not start with its marker)")
    aead, prefix, index = AESGCM(key), source.read(8), 0
    while True:
        head = source.read(4)
        if len(head) < 4:
            raise BackupError(f"{where}: the backup is cut short (chunk {index} missing)")
        (length,) = struct.unpack(">I", head)
        sealed = source.read(length)
        if len(sealed) < length:
            raise BackupError(f"{where}: the backup is cut short (chunk {index} incomplete)")
        nonce = prefix + struct.pack(">I", index)
        for last in (False, True):
            try:
                target.write(aead.decrypt(nonce, sealed, MAGIC + (b"\x01" if last else b"\x00")))
                break
            except InvalidTag:
                continue
        else:
            raise BackupError(
                f"{where}: chunk {index} does not decrypt (another backup key, or the file was altered)"
            )
        if last:
            if source.read(1):
                raise BackupError(f"{where}: data after the last chunk")
            return
        index += 1


# --- the database -------------------------------------------------------------------------------------------


def _pg_environment(conf: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """pg_dump's / pg_restore's connection arguments and environment for the database ``conf`` describes."""
    connect = _pg_connect_args(conf)
    args = ["--host", str(connect["host"]), "--port", str(connect["port"])]
    if connect["user"]:
        args += ["--username", str(connect["user"])]
    return args, {**os.environ, "PGPASSWORD": str(connect["password"] or "")}


def _run(command: list[str], environment: dict[str, str], what: str) -> None:
    try:
        done = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise BackupError(f"{what}: {command[0]} is not installed (Debian: postgresql-client)") from exc
    if done.returncode != 0:
        raise BackupError(
            f"{what} failed ({command[0]} exit {done.returncode}): {done.stderr.strip()[-500:]}"
        )


def database_dump(using: str, folder: Path) -> Path:
    """The database as one file in ``folder``, consistent as of one moment."""
    connection = connections[using]
    if connection.vendor == "sqlite":
        path = folder / "database.sqlite3"
        connection.ensure_connection()
        target = sqlite3.connect(path)
        try:
            connection.connection.backup(target)
        finally:
            target.close()
        return path
    if connection.vendor == "postgresql":
        path = folder / "database.pgdump"
        args, environment = _pg_environment(connection.settings_dict)
        name = str(connection.settings_dict["NAME"])
        command = [
            "pg_dump",
            *args,
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            "--file",
            str(path),
            name,
        ]
        _run(command, environment, f"dumping database {name}")
        return path
    raise BackupError(f"backups support SQLite and PostgreSQL, not {connection.vendor}")


def _tables(conf: dict[str, Any], vendor: str) -> list[str]:
    if vendor == "sqlite":
        with closing(sqlite3.connect(str(conf["NAME"]), uri=str(conf["NAME"]).startswith("file:"))) as lite:
            query = "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            return [row[0] for row in lite.execute(query)]
    import psycopg

    with psycopg.connect(**_pg_connect_args(conf)) as pg:
        return [row[0] for row in pg.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]


def _pg_connect_args(conf: dict[str, Any]) -> dict[str, Any]:
    return {
        "dbname": conf["NAME"],
        "host": conf.get("HOST") or "localhost",
        "port": conf.get("PORT") or 5432,
        "user": conf.get("USER") or None,
        "password": conf.get("PASSWORD") or None,
    }


def database_load(dump: Path, conf: dict[str, Any], vendor: str, *, replace: bool) -> None:
    """Load ``dump`` into the database ``conf`` describes (a settings dict); refuses one with tables unless
    ``replace``."""
    if _tables(conf, vendor) and not replace:
        raise BackupError(
            f"database {conf['NAME']} already has tables: restore into an empty database, or pass --replace"
        )
    if vendor == "sqlite":
        if dump.suffix != ".sqlite3":
            raise BackupError("this backup is of PostgreSQL; restore it into PostgreSQL")
        source = sqlite3.connect(dump)
        target = sqlite3.connect(str(conf["NAME"]), uri=str(conf["NAME"]).startswith("file:"))
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()
        return
    if dump.suffix != ".pgdump":
        raise BackupError("this backup is of SQLite; restore it into SQLite")
    args, environment = _pg_environment(conf)
    command = [
        "pg_restore",
        *args,
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
    ]
    if replace:
        command += ["--clean", "--if-exists"]
    _run([*command, "--dbname", str(conf["NAME"]), str(dump)], environment, f"restoring into {conf['NAME']}")


# --- files and the archive ----------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _migrations(using: str) -> dict[str, str]:
    loader = MigrationLoader(connections[using], ignore_no_migrations=True)
    latest: dict[str, str] = {}
    for app, name in sorted(loader.applied_migrations or {}):
        latest[app] = max(latest.get(app, ""), name)
    return latest


def _media_files(root: Path) -> Iterator[Path]:
    if root.is_dir():
        yield from sorted(path for path in root.rglob("*") if path.is_file() and not path.is_symlink())


def _media_copied(root: Path, folder: Path) -> dict[str, Path]:
    """The files under MEDIA_ROOT copied into ``folder`` first, so that what is hashed is what is archived; a file
    the retention job deletes meanwhile is left out (its row says it is gone)."""
    copied: dict[str, Path] = {}
    for path in _media_files(root):
        name = f"media/{path.relative_to(root).as_posix()}"
        copy = folder / name
        copy.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copyfile(path, copy)
        except FileNotFoundError:
            continue
        copied[name] = copy
    return copied


def backup_create(
    *, using: str = "default", storage: ObjectStorage | None = None, actor: Any = None
) -> BackupInfo:
    """Make a backup now and store it; returns its key, size and manifest."""
    storage = storage or default_storage()
    now = timezone.now()
    key = f"{settings.MADOGUCHI_BACKUP_PREFIX}madoguchi-{now:%Y%m%dT%H%M%S%fZ}.backup"
    media_root = Path(settings.MEDIA_ROOT)
    # Written before the dump, so that every backup holds the record of its own making (a copy of everyone's data
    # is an export like any other).
    audit_record(actor=actor, action=AuditAction.EXPORT, target_type="backup", target_ref=key)
    with tempfile.TemporaryDirectory(prefix="madoguchi-backup-") as tmp:
        folder = Path(tmp)
        dump = database_dump(using, folder)
        files = {dump.name: dump} | _media_copied(media_root, folder)
        manifest = {
            "format": FORMAT,
            "created_at": now.isoformat(),
            "vendor": connections[using].vendor,
            "database": dump.name,
            "migrations": _migrations(using),
            "sha256": {name: _sha256(path) for name, path in files.items()},
        }
        archive = folder / "backup.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            data = json.dumps(manifest, ensure_ascii=False, indent=1).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size, info.mtime = len(data), int(now.timestamp())
            tar.addfile(info, io.BytesIO(data))
            for name, path in files.items():
                tar.add(path, arcname=name, recursive=False)
        encrypted = folder / "backup.enc"
        with archive.open("rb") as source, encrypted.open("wb") as target:
            encrypt_stream(source, target, backup_key())
        try:
            storage.put_file(key, encrypted)
        except StorageError as exc:
            raise BackupError(f"storing the backup failed: {exc}") from exc
        return BackupInfo(key=key, size=encrypted.stat().st_size, manifest=manifest)


def backup_run(*, actor: Any = None) -> tuple[BackupInfo, list[str]]:
    """A backup as the nightly task and ``manage.py backup`` make it: stored, read back and checked (so a bad night
    is known the next morning), then the backups past their days deleted. Returns it and the deleted keys."""
    made = backup_create(actor=actor)
    backup_verify(made.key)
    return made, backups_prune()


def backups_list(storage: ObjectStorage | None = None) -> list[str]:
    storage = storage or default_storage()
    prefix = settings.MADOGUCHI_BACKUP_PREFIX
    return [key for key in storage.list(prefix) if key.endswith(".backup")]


def _created(key: str) -> dt.datetime | None:
    stamp = key.rsplit("madoguchi-", 1)[-1].removesuffix(".backup")
    try:
        return dt.datetime.strptime(stamp, "%Y%m%dT%H%M%S%fZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def backups_prune(*, storage: ObjectStorage | None = None, now: dt.datetime | None = None) -> list[str]:
    """Delete backups older than MADOGUCHI_BACKUP_KEEP_DAYS, always keeping the newest. Returns their keys."""
    storage = storage or default_storage()
    keys = backups_list(storage)
    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.MADOGUCHI_BACKUP_KEEP_DAYS)
    old = [key for key in keys[:-1] if (created := _created(key)) is not None and created < cutoff]
    for key in old:
        storage.delete(key)
    return old


@contextmanager
def _opened(key: str, storage: ObjectStorage, folder: Path) -> Iterator[tarfile.TarFile]:
    plain = folder / "backup.tar.gz"
    try:
        with storage.open(key) as source, plain.open("wb") as target:
            decrypt_stream(source, target, backup_key(), where=storage.describe(key))
    except StorageError as exc:
        raise BackupError(str(exc)) from exc
    try:
        with tarfile.open(plain, "r:gz") as tar:
            yield tar
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BackupError(f"{storage.describe(key)}: the archive inside is damaged ({exc})") from exc


def _latest(key: str, storage: ObjectStorage) -> str:
    if key != "latest":
        return key
    keys = backups_list(storage)
    if not keys:
        raise BackupError(f"no backups under {storage.describe(settings.MADOGUCHI_BACKUP_PREFIX)}")
    return keys[-1]


def _checked(tar: tarfile.TarFile, folder: Path, where: str) -> dict[str, Any]:
    """Extract every member into ``folder`` and check it against the manifest; returns the manifest."""
    members = {member.name: member for member in tar.getmembers()}
    manifest_file = tar.extractfile(members["manifest.json"]) if "manifest.json" in members else None
    if manifest_file is None:
        raise BackupError(f"{where}: no manifest.json in the archive")
    manifest: dict[str, Any] = json.loads(manifest_file.read())
    expected: dict[str, str] = manifest.get("sha256", {})
    unexpected = set(members) - set(expected) - {"manifest.json"}
    missing = set(expected) - set(members)
    if unexpected or missing:
        raise BackupError(
            f"{where}: the archive does not match its manifest ({sorted(unexpected | missing)[:5]})"
        )
    tar.extractall(folder, members=[members[name] for name in expected], filter="data")
    for name, digest in expected.items():
        if _sha256(folder / name) != digest:
            raise BackupError(f"{where}: {name} does not match its checksum")
    return manifest


def backup_verify(key: str, *, storage: ObjectStorage | None = None) -> dict[str, Any]:
    """Decrypt backup ``key`` (or ``"latest"``) and check every file against its manifest, restoring nothing (the
    確認作業 after a backup). Returns the manifest; BackupError names what is wrong."""
    storage = storage or default_storage()
    key = _latest(key, storage)
    with (
        tempfile.TemporaryDirectory(prefix="madoguchi-verify-") as tmp,
        _opened(key, storage, Path(tmp)) as tar,
    ):
        return _checked(tar, Path(tmp) / "members", storage.describe(key))


def backup_restore(
    key: str,
    *,
    database: dict[str, Any] | None = None,
    vendor: str | None = None,
    media_root: Path | None = None,
    replace: bool = False,
    storage: ObjectStorage | None = None,
) -> dict[str, Any]:
    """Restore backup ``key`` (or the newest, for ``"latest"``) into ``database`` (a settings dict; the default
    database's when None) and ``media_root``. Every member is checked against the manifest before anything is
    written. Returns the manifest."""
    storage = storage or default_storage()
    key = _latest(key, storage)
    conf = database or connections["default"].settings_dict
    vendor = vendor or connections["default"].vendor
    media_root = media_root or Path(settings.MEDIA_ROOT)
    with (
        tempfile.TemporaryDirectory(prefix="madoguchi-restore-") as tmp,
        _opened(key, storage, Path(tmp)) as tar,
    ):
        folder = Path(tmp) / "members"
        manifest = _checked(tar, folder, storage.describe(key))
        expected: dict[str, str] = manifest["sha256"]
        database_load(folder / manifest["database"], conf, vendor, replace=replace)
        for name in expected:
            if name.startswith("media/"):
                target = media_root / name.removeprefix("media/")
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(folder / name, target)
    return manifest


def migrations_pending(using: str = "default") -> bool:
    """Are there migrations not yet applied to a database that has some? (``backup --if-migrations-pending``)"""
    from django.db.migrations.executor import MigrationExecutor

    connection = connections[using]
    if "django_migrations" not in connection.introspection.table_names():
        return False  # a new, empty database: nothing to keep
    executor = MigrationExecutor(connection)
    return bool(executor.migration_plan(executor.loader.graph.leaf_nodes()))
