"""Scheduled pick-up of core-system files: naming rule, ledger, order, exactly once, failures retried."""

import datetime as dt
import threading

import pytest
from django.db import connection

from integrations.layouts import JUKI_V1_COLUMNS
from integrations.models import ImportKind, ImportRun, ImportStatus, InboundPickup, Resident
from integrations.services import import_run_retry, import_run_skip, inbound_name, inbound_pickup
from integrations.storage import LocalFolderStorage, S3Storage
from tests.conftest import SMALL_CITY, free_port
from tests.factories import atena, juki_csv, juki_row

pytestmark = pytest.mark.django_db


def full(stamp: str, rows: list[dict[str, str]], seq: int = 1) -> tuple[str, bytes]:
    return f"inbound/JUKI_{stamp}_{seq:06d}_FULL.csv", juki_csv(rows)


def diff(stamp: str, *rows: tuple[str, dict[str, str]], seq: int = 1) -> tuple[str, bytes]:
    data = juki_csv([{"処理区分": k, **r} for k, r in rows], columns=("処理区分", *JUKI_V1_COLUMNS))
    return f"inbound/JUKI_{stamp}_{seq:06d}_DIFF.csv", data


def drop(storage: LocalFolderStorage, *files: tuple[str, bytes]) -> None:
    for key, data in files:
        storage.put(key, data)


def status_of(key: str) -> str:
    return ImportRun.objects.get(source__endswith=key).status


def test_the_naming_rule() -> None:
    name = inbound_name("inbound/JUKI_20261121093000_000002_DIFF.csv")
    assert name is not None and name.kind == ImportKind.DIFF and name.seq == 2
    assert name.stamp == dt.datetime(2026, 11, 21, 0, 30, tzinfo=dt.UTC)  # 09:30 JST
    for wrong in ("inbound/juki.csv", "inbound/JUKI_20261321093000_000002_DIFF.csv", "JUKI_2026_1_FULL.csv"):
        assert inbound_name(wrong) is None


def test_files_are_applied_once_and_in_order(local_storage) -> None:
    drop(
        local_storage,
        diff("20261101091000", ("1", juki_row(8))),
        full("20261101090000", SMALL_CITY),
        diff("20261101092000", ("2", {**juki_row(8), "氏": "変更後"})),
    )
    pickup = inbound_pickup(storage=local_storage)
    assert pickup.ok and pickup.applied == 3 and pickup.seen == 3
    assert Resident.objects.get(atena_no=atena(8)).shi == "変更後"
    again = inbound_pickup(storage=local_storage)
    assert again.ok and (again.seen, again.applied) == (0, 0)  # re-running is harmless
    assert ImportRun.objects.filter(status=ImportStatus.APPLIED).count() == 3


def test_old_files_are_skipped_and_recorded(local_storage) -> None:
    drop(local_storage, full("20261101090000", SMALL_CITY))
    inbound_pickup(storage=local_storage)
    late_diff = diff("20261101080000", ("1", juki_row(8)))
    drop(local_storage, late_diff, full("20261101085000", [juki_row(9)]))
    inbound_pickup(storage=local_storage)
    assert status_of(late_diff[0]) == ImportStatus.SKIPPED
    assert "older than the snapshot" in ImportRun.objects.get(source__endswith=late_diff[0]).note
    assert Resident.objects.count() == 4


def test_a_newer_snapshot_supersedes_pending_files(local_storage) -> None:
    old = full("20261101090000", [juki_row(1)])
    drop(local_storage, old, diff("20261101091000", ("1", juki_row(2))), full("20261101100000", SMALL_CITY))
    assert inbound_pickup(storage=local_storage).applied == 1
    assert status_of(old[0]) == ImportStatus.SKIPPED
    assert Resident.objects.count() == 4


def test_names_that_break_the_rule_are_recorded_once_and_ignored(local_storage) -> None:
    local_storage.put("inbound/residents.csv", juki_csv(SMALL_CITY))
    inbound_pickup(storage=local_storage)
    inbound_pickup(storage=local_storage)
    run = ImportRun.objects.get()
    assert run.status == ImportStatus.IGNORED and "does not follow the rule" in run.note
    assert not Resident.objects.exists()


def test_a_rejected_difference_blocks_later_ones_until_skipped(local_storage) -> None:
    bad = diff("20261101091000", ("3", juki_row(99)))
    later = diff("20261101092000", ("1", juki_row(8)))
    drop(local_storage, full("20261101090000", SMALL_CITY), bad, later)
    pickup = inbound_pickup(storage=local_storage)
    assert status_of(bad[0]) == ImportStatus.REJECTED
    assert local_storage.exists(f"{bad[0]}.errors.csv")
    assert status_of(later[0]) == ImportStatus.PENDING and "rejected" in pickup.message
    assert "waiting" in inbound_pickup(storage=local_storage).message
    import_run_skip(run=ImportRun.objects.get(source__endswith=bad[0]), actor=None)
    assert inbound_pickup(storage=local_storage).applied == 1
    assert Resident.objects.filter(atena_no=atena(8)).exists()


def test_storage_down_applies_nothing_and_the_next_cycle_catches_up(s3_bucket: S3Storage) -> None:
    key, data = full("20261101090000", SMALL_CITY)
    s3_bucket.put(key, data)
    down = S3Storage(s3_bucket.bucket, endpoint_url=f"http://127.0.0.1:{free_port()}", region="us-east-1")
    pickup = inbound_pickup(storage=down)
    assert not pickup.ok and "storage unreachable" in pickup.message
    assert not Resident.objects.exists() and not ImportRun.objects.exists()
    assert inbound_pickup(storage=s3_bucket).applied == 1
    assert Resident.objects.count() == 4


def test_a_file_that_vanishes_before_download_fails_and_is_retried(local_storage) -> None:
    key, data = full("20261101090000", SMALL_CITY)
    drop(local_storage, (key, data))
    (local_storage.root / key).unlink()
    local_storage.put("inbound/keep.txt", b"")  # the prefix still lists

    class Listing(LocalFolderStorage):
        def list(self, prefix: str) -> list[str]:
            return [key]

    pickup = inbound_pickup(storage=Listing(local_storage.root))
    assert status_of(key) == ImportStatus.FAILED and "stopped" in pickup.message
    drop(local_storage, (key, data))
    import_run_retry(run=ImportRun.objects.get(source__endswith=key))
    assert inbound_pickup(storage=local_storage).applied == 1


def test_only_one_pickup_runs_at_a_time(local_storage) -> None:
    from integrations.services import _lease_take

    assert _lease_take("someone-else")
    pickup = inbound_pickup(storage=local_storage)
    assert "another pick-up is still running" in pickup.message
    assert InboundPickup.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("how", ["merged", "rebuilt"])
def test_a_search_during_an_import_sees_the_old_or_the_new_never_a_mix(
    local_storage, monkeypatch, how
) -> None:
    from django.db import connection

    from integrations.mirror import SnapshotMerge
    from integrations.selectors import residents_matching

    if how == "rebuilt":  # the merge gives way to the full read, which swaps the new mirror in
        monkeypatch.setattr(SnapshotMerge, "MIN_CHANGED_ALLOWED", -1)
        monkeypatch.setattr(SnapshotMerge, "MAX_CHANGED_SHARE", -1)
    old = [juki_row(n, 氏="旧", 住所="窓口市旧町1番") for n in range(1, 301)]
    new = [juki_row(n, 氏="新", 住所="窓口市新町1番") for n in range(1, 401)]
    drop(local_storage, full("20261101090000", old))
    inbound_pickup(storage=local_storage)
    drop(local_storage, full("20261101100000", new))
    seen: set[tuple[tuple[str, int], ...]] = set()
    errors: list[BaseException] = []
    done = threading.Event()

    def search() -> None:
        try:
            while not done.is_set():
                counts: dict[str, int] = {}
                for shi in Resident.objects.values_list("shi", flat=True):
                    counts[shi] = counts.get(shi, 0) + 1
                seen.add(tuple(sorted(counts.items())))
                # An address search goes through the address dictionary: it too sees one mirror or the other.
                by_address = {r.shi for r in residents_matching(address="町1番")}
                assert by_address in ({"旧"}, {"新"}), by_address
        except BaseException as error:  # re-raised below: a failing reader must fail the test
            errors.append(error)
        finally:
            connection.close()

    reader = threading.Thread(target=search)
    reader.start()
    try:
        assert inbound_pickup(storage=local_storage).applied == 1
    finally:
        done.set()
        reader.join()
    if errors:
        raise errors[0]
    assert (("旧", 300),) in seen, "the reader must have run during the import"
    assert seen <= {(("旧", 300),), (("新", 400),)}, seen


def test_a_rejected_newer_snapshot_leaves_the_older_files_and_blocks_the_later(local_storage) -> None:
    older = full("20261101090000", SMALL_CITY)
    broken = full("20261101100000", [juki_row(9, 性別="7")])
    after = diff("20261101110000", ("1", juki_row(8)))
    drop(local_storage, older, broken, after)
    pickup = inbound_pickup(storage=local_storage)
    assert status_of(broken[0]) == ImportStatus.REJECTED
    assert status_of(older[0]) == ImportStatus.APPLIED  # not skipped: the newer snapshot never applied
    assert status_of(after[0]) == ImportStatus.PENDING and "rejected" in pickup.message
    assert Resident.objects.count() == 4 and not Resident.objects.filter(atena_no=atena(8)).exists()
    fixed = full("20261101120000", [*SMALL_CITY, juki_row(9)])
    drop(local_storage, fixed)
    assert inbound_pickup(storage=local_storage).ok
    assert status_of(after[0]) == ImportStatus.SKIPPED  # older than the snapshot that fixed things
    assert Resident.objects.count() == 5


def test_a_file_cut_off_mid_import_is_tried_again(local_storage) -> None:
    key, data = full("20261101090000", SMALL_CITY)
    drop(local_storage, (key, data))
    inbound_pickup(storage=local_storage)
    ImportRun.objects.filter(source__endswith=key).update(status=ImportStatus.RUNNING)  # the worker died
    Resident.objects.all().delete()
    assert inbound_pickup(storage=local_storage).applied == 1
    assert Resident.objects.count() == 4


def test_a_file_imported_by_command_counts_and_is_not_applied_twice(local_storage) -> None:
    from django.core.management import call_command

    snapshot = full("20261101090000", SMALL_CITY)
    drop(local_storage, snapshot, diff("20261101080000", ("1", juki_row(8))))
    call_command("import_residents", snapshot[0])  # a key of the configured (local) storage
    pickup = inbound_pickup(storage=local_storage)
    assert pickup.ok and pickup.applied == 0
    assert ImportRun.objects.get(origin="pickup", source__endswith=snapshot[0]).status == ImportStatus.SKIPPED
    assert ImportRun.objects.get(origin="pickup", kind="diff").note == "older than the snapshot applied"


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has one writer: the import")
def test_the_lease_is_renewed_where_other_pickups_see_it_while_a_file_imports(monkeypatch) -> None:
    """The import's own connection sits in a long transaction (on PostgreSQL inside a COPY): the renewal goes
    through a connection of its own, so it is visible at once and cannot wait for the import."""
    from django.db import transaction
    from django.utils import timezone

    from integrations import services
    from integrations.models import InboundLease

    monkeypatch.setattr(services, "LEASE_RENEW_SECONDS", 0)
    InboundLease.objects.create(name="inbound", holder="h", until=timezone.now())
    keeper = services._LeaseKeeper("h")
    seen: list[dt.datetime] = []

    def other_pickup() -> None:
        try:
            seen.append(InboundLease.objects.get(name="inbound").until)
        finally:
            connection.close()

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE lease_copy (n integer) ON COMMIT DROP")
        with cursor.cursor.copy("COPY lease_copy (n) FROM STDIN") as copy:
            copy.write_row((1,))
            keeper()  # while this connection is inside a COPY
        reader = threading.Thread(target=other_pickup)
        reader.start()
        reader.join()
    assert seen and seen[0] > timezone.now() + dt.timedelta(minutes=29)
