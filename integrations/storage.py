"""Object storage behind one interface: a local folder (embedded default) or S3 (boto3).

Keys are '/'-separated relative paths. Writes are atomic from a reader's point of view: the local backend
renames a finished temporary file into place; S3 PUTs are atomic by nature.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path, PurePosixPath
from typing import IO, Any, Protocol
from urllib.parse import urlparse

from django.conf import settings


class StorageError(Exception):
    """A storage operation failed (missing object, unreachable service, refused key)."""


class ObjectStorage(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...
    def open(self, key: str) -> AbstractContextManager[IO[bytes]]:
        """The object as a seekable binary file, read from disk, never held in memory whole."""
        ...

    def put_file(self, key: str, path: Path) -> None:
        """Store the file at ``path`` (streamed: large files never sit in memory)."""
        ...

    def delete(self, key: str) -> None: ...
    def exists(self, key: str) -> bool: ...
    def list(self, prefix: str) -> list[str]: ...
    def describe(self, key: str) -> str: ...


def _checked_key(key: str) -> str:
    path = PurePosixPath(key)
    if not key or path.is_absolute() or ".." in path.parts or "\\" in key:
        raise StorageError(f"refused object key {key!r}: keys are relative paths without '..'")
    return key


class LocalFolderStorage:
    """A folder standing in for a bucket."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / _checked_key(key)

    @contextmanager
    def _writing(self, key: str) -> Iterator[IO[bytes]]:
        """A temporary file beside the object, renamed into place once written whole (removed if not)."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                yield handle
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put(self, key: str, data: bytes) -> None:
        with self._writing(key) as handle:
            handle.write(data)

    def put_file(self, key: str, path: Path) -> None:
        with self._writing(key) as handle, path.open("rb") as source:
            shutil.copyfileobj(source, handle, 1024 * 1024)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise StorageError(f"{self.describe(key)}: no such object") from exc
        except OSError as exc:
            raise StorageError(f"{self.describe(key)}: {exc.strerror}") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    @contextmanager
    def open(self, key: str) -> Iterator[IO[bytes]]:
        try:
            handle = self._path(key).open("rb")
        except FileNotFoundError as exc:
            raise StorageError(f"{self.describe(key)}: no such object") from exc
        except OSError as exc:
            raise StorageError(f"{self.describe(key)}: {exc.strerror}") from exc
        with handle:
            yield handle

    def list(self, prefix: str) -> list[str]:
        # Walk only the folder the prefix names (inbound/ must not cost a walk through every outbound file).
        start = self.root / _checked_key(prefix).rpartition("/")[0] if "/" in prefix else self.root
        if not start.is_dir():
            return []
        keys = (p.relative_to(self.root).as_posix() for p in start.rglob("*") if p.is_file())
        return sorted(
            k for k in keys if k.startswith(prefix) and not PurePosixPath(k).name.startswith(".tmp-")
        )

    def describe(self, key: str) -> str:
        return str(self.root / key)


class S3Storage:
    """An S3 bucket (Government Cloud S3 or any S3-compatible store) through boto3."""

    def __init__(
        self, bucket: str, *, endpoint_url: str | None = None, region: str | None = None, client: Any = None
    ) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.client = client or boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            config=Config(
                retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=30
            ),
        )

    def _call(self, key: str, operation: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, operation)(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in {"NoSuchKey", "404"}:
                raise StorageError(f"{self.describe(key)}: no such object") from exc
            raise StorageError(f"{self.describe(key)}: {code or exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"{self.describe(key)}: {exc}") from exc

    def put(self, key: str, data: bytes) -> None:
        self._call(key, "put_object", Key=_checked_key(key), Body=data)

    def put_file(self, key: str, path: Path) -> None:
        """A multipart upload for large files (boto3's transfer manager)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.upload_file(str(path), self.bucket, _checked_key(key))
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"{self.describe(key)}: {exc}") from exc

    def delete(self, key: str) -> None:
        self._call(key, "delete_object", Key=_checked_key(key))

    def get(self, key: str) -> bytes:
        body: bytes = self._call(key, "get_object", Key=_checked_key(key))["Body"].read()
        return body

    @contextmanager
    def open(self, key: str) -> Iterator[IO[bytes]]:
        """Download to a temporary file first, so a dropped connection never leaves a half-read import."""
        from botocore.exceptions import BotoCoreError, ClientError

        with tempfile.TemporaryFile() as handle:
            try:
                self.client.download_fileobj(self.bucket, _checked_key(key), handle)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                missing = code in {"NoSuchKey", "404"}
                raise StorageError(f"{self.describe(key)}: {'no such object' if missing else code}") from exc
            except BotoCoreError as exc:
                raise StorageError(f"{self.describe(key)}: {exc}") from exc
            handle.seek(0)
            yield handle

    def exists(self, key: str) -> bool:
        try:
            self._call(key, "head_object", Key=_checked_key(key))
        except StorageError as exc:
            if "no such object" in str(exc):
                return False
            raise
        return True

    def list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        token: dict[str, str] = {}
        while True:
            page = self._call(prefix, "list_objects_v2", Prefix=prefix, **token)
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
            if not page.get("IsTruncated"):
                return sorted(keys)
            token = {"ContinuationToken": page["NextContinuationToken"]}

    def describe(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


def default_storage() -> ObjectStorage:
    """The storage configured by the OBJECT_STORAGE_* settings."""
    conf = settings.OBJECT_STORAGE
    if conf["BACKEND"] == "s3":
        return S3Storage(conf["BUCKET"], endpoint_url=conf["ENDPOINT_URL"], region=conf["REGION"])
    if conf["BACKEND"] == "local":
        return LocalFolderStorage(conf["LOCAL_ROOT"])
    raise StorageError(f"OBJECT_STORAGE_BACKEND must be 'local' or 's3', not {conf['BACKEND']!r}")


def storage_for_location(location: str) -> tuple[ObjectStorage, str]:
    """Split ``s3://bucket/key``, a ``file`` path, or a key of the default storage into (storage, key).

    A path that exists on disk is read from its folder; anything else is a key of the configured storage.
    """
    if location.startswith("s3://"):
        parsed = urlparse(location)
        conf = settings.OBJECT_STORAGE
        key = parsed.path.lstrip("/")
        return S3Storage(parsed.netloc, endpoint_url=conf["ENDPOINT_URL"], region=conf["REGION"]), key
    path = Path(location)
    if path.is_file():
        return LocalFolderStorage(path.resolve().parent), path.name
    return default_storage(), location
