import pytest

from integrations.storage import LocalFolderStorage, S3Storage, StorageError


def _exercise(storage: LocalFolderStorage | S3Storage) -> None:
    storage.put("inbound/a.csv", "葛\U000e0102".encode())
    storage.put("inbound/sub/b.csv", b"b")
    storage.put("outbound/c.csv", b"c")
    assert storage.get("inbound/a.csv") == "葛\U000e0102".encode()
    assert storage.exists("inbound/a.csv")
    assert not storage.exists("inbound/missing.csv")
    assert storage.list("inbound/") == ["inbound/a.csv", "inbound/sub/b.csv"]
    with pytest.raises(StorageError, match="no such object"):
        storage.get("inbound/missing.csv")
    with pytest.raises(StorageError, match="refused object key"):
        storage.put("../escape.csv", b"x")


def test_local_folder(tmp_path) -> None:
    storage = LocalFolderStorage(tmp_path)
    _exercise(storage)
    assert not list(tmp_path.rglob(".tmp-*"))


def test_s3_through_a_real_s3_api(s3_bucket: S3Storage) -> None:
    _exercise(s3_bucket)


def test_s3_unreachable_is_a_storage_error(s3_bucket: S3Storage) -> None:
    from tests.conftest import free_port

    dead = S3Storage(s3_bucket.bucket, endpoint_url=f"http://127.0.0.1:{free_port()}", region="us-east-1")
    with pytest.raises(StorageError, match="s3://"):
        dead.put("x.csv", b"x")


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_open_streams_an_object(backend, tmp_path, request) -> None:
    storage = LocalFolderStorage(tmp_path) if backend == "local" else request.getfixturevalue("s3_bucket")
    storage.put("inbound/big.csv", b"line\r\n" * 10_000)
    with storage.open("inbound/big.csv") as handle:
        assert sum(1 for _ in handle) == 10_000
    with pytest.raises(StorageError, match="no such object"), storage.open("inbound/none.csv"):
        pass
