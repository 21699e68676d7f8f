"""The audit log's tamper evidence (issue 8 point 3): the database refuses changes and deletions, records are
hash-chained in id order, and ``audit_verify`` names the first record that no longer follows."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from madoguchi.audit.models import AuditAction, AuditCheckpoint, AuditEvent
from madoguchi.audit.services import audit_chain, audit_purge, audit_record, audit_verify
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

TABLE = AuditEvent._meta.db_table


def _records(count: int, start: int = 0) -> list[AuditEvent]:
    actor = UserFactory.create(roles=["clerk"])
    return [
        audit_record(
            actor=actor,
            action=AuditAction.VIEW,
            target_type="resident",
            target_ref=f"{100000 + start + n}",
            detail={"kind": "household", "n": start + n, "氏名の検索": "kana"},
        )
        for n in range(count)
    ]


def _sql(statement: str, *params: str | int) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params)


def _tamper(statement: str, *params: str | int) -> None:
    """What someone with the database's owner rights could do: lift the guard, change a row, put it back."""
    if connection.vendor == "postgresql":
        _sql("SET CONSTRAINTS ALL IMMEDIATE")  # the test's open transaction still owes its foreign-key checks
        _sql(f"ALTER TABLE {TABLE} DISABLE TRIGGER audit_append_only")
        _sql(statement, *params)
        _sql(f"ALTER TABLE {TABLE} ENABLE TRIGGER audit_append_only")
    else:
        _sql("DROP TRIGGER audit_append_only")  # rolled back with the test's transaction
        _sql(statement, *params)


def test_records_are_chained_in_order_and_the_chain_verifies() -> None:
    _records(3)
    assert audit_chain() == 3 and audit_chain() == 0
    _records(2, start=3)
    assert audit_verify().unchained == 2
    assert audit_chain() == 2
    check = audit_verify()
    assert check.ok and check.verified == 5 and check.unchained == 0
    hashes = list(AuditEvent.objects.order_by("pk").values_list("chain_hash", flat=True))
    assert all(len(h) == 64 for h in hashes) and len(set(hashes)) == 5


def test_the_database_refuses_to_change_a_record() -> None:
    record = _records(1)[0]
    with pytest.raises(DatabaseError, match="append-only"):
        _sql(f"UPDATE {TABLE} SET target_ref = %s WHERE id = %s", "999999", record.pk)
    audit_chain()
    chained = AuditEvent.objects.get(pk=record.pk)
    with pytest.raises(DatabaseError, match="append-only"):  # nor its hash, once chained
        _sql(f"UPDATE {TABLE} SET chain_hash = %s WHERE id = %s", "0" * 64, record.pk)
    assert AuditEvent.objects.get(pk=record.pk).chain_hash == chained.chain_hash
    with pytest.raises(PermissionError):
        record.delete()


@pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="SQLite: the model refuses deletion, not a trigger"
)
def test_the_database_refuses_to_delete_a_record() -> None:
    record = _records(1)[0]
    with pytest.raises(DatabaseError, match="cannot be deleted"):
        _sql(f"DELETE FROM {TABLE} WHERE id = %s", record.pk)
    assert AuditEvent.objects.filter(pk=record.pk).exists()


def test_a_changed_record_breaks_the_chain_at_that_record() -> None:
    records = _records(4)
    audit_chain()
    _tamper(f"UPDATE {TABLE} SET target_ref = %s WHERE id = %s", "123456", records[2].pk)
    check = audit_verify()
    assert not check.ok and check.broken_at == records[2].pk and check.verified == 2
    with pytest.raises(CommandError, match=f"audit chain broken at record {records[2].pk}"):
        call_command("audit_verify", "--no-chain")


def test_a_deleted_record_breaks_the_chain_at_the_next_one() -> None:
    records = _records(4)
    audit_chain()
    _tamper(f"DELETE FROM {TABLE} WHERE id = %s", records[1].pk)
    check = audit_verify()
    assert not check.ok and check.broken_at == records[2].pk


def test_audit_verify_chains_the_newest_records_and_reports(capsys: pytest.CaptureFixture[str]) -> None:
    _records(3)
    call_command("audit_verify")
    assert "audit chain intact: 3 records verified" in capsys.readouterr().out
    _records(1, start=3)
    call_command("audit_verify", "--no-chain")
    assert "3 records verified; 1 newer records not chained yet" in capsys.readouterr().out


def test_a_change_through_the_admin_site_is_audited_without_its_values(admin_client) -> None:
    from django.contrib.auth.models import Group
    from django.urls import reverse

    response = admin_client.post(reverse("admin:auth_group_add"), {"name": "窓口 山田班"})
    assert response.status_code == 302
    group = Group.objects.get(name="窓口 山田班")
    response = admin_client.post(reverse("admin:auth_group_change", args=[group.pk]), {"name": "窓口 佐藤班"})
    assert response.status_code == 302
    records = list(AuditEvent.objects.filter(target_type="auth.group").order_by("pk"))
    assert [(r.action, r.target_ref, r.detail["kind"]) for r in records] == [
        (AuditAction.ADMIN, str(group.pk), "added"),
        (AuditAction.ADMIN, str(group.pk), "changed"),
    ]
    assert records[1].detail["fields"] == ["役割名"]  # the field's label as the admin logs it
    assert all("山田" not in str(r.detail) and "佐藤" not in str(r.detail) for r in records)


# --- retention -------------------------------------------------------------------------------------------------


def _after_retention(record: AuditEvent, settings) -> dt.datetime:
    """A moment at which ``record`` is the newest one old enough to purge."""
    return record.at + dt.timedelta(days=settings.MADOGUCHI_AUDIT_RETENTION_DAYS, microseconds=1)


def test_a_purge_keeps_the_chain_verifiable_from_its_signed_checkpoint(settings) -> None:
    records = _records(5)
    audit_chain()
    kept_from = AuditEvent.objects.get(pk=records[3].pk)
    purged = audit_purge(now=_after_retention(AuditEvent.objects.get(pk=records[2].pk), settings))
    assert purged == 3
    assert list(AuditEvent.objects.filter(pk__lte=records[2].pk)) == []
    checkpoint = AuditCheckpoint.objects.get()
    assert (checkpoint.through_id, checkpoint.purged) == (records[2].pk, 3)
    assert AuditEvent.objects.filter(pk=kept_from.pk).exists()
    purge_record = AuditEvent.objects.get(target_type="audit_log")
    assert purge_record.detail["kind"] == "purge" and purge_record.detail["records"] == 3
    _records(2, start=5)
    check = audit_verify()
    # The two kept verify from the checkpoint; the purge's own record and the new ones are not chained yet.
    assert check.ok and (check.verified, check.unchained) == (2, 3), check
    call_command("audit_verify")
    # A second purge links its checkpoint to the first.
    assert audit_purge(
        now=dt.datetime.now(dt.UTC) + dt.timedelta(days=settings.MADOGUCHI_AUDIT_RETENTION_DAYS + 1)
    )
    assert AuditCheckpoint.objects.count() == 2 and audit_verify().ok
    # Every chained record went: the next ones chain on from the checkpoint.
    _records(1, start=7)
    call_command("audit_verify")
    assert audit_verify().ok and audit_verify().verified == 2  # the second purge's record and the new one


def test_a_forged_checkpoint_is_found(settings) -> None:
    records = _records(3)
    audit_purge(now=_after_retention(AuditEvent.objects.get(pk=records[0].pk), settings))
    AuditCheckpoint.objects.update(through_hash="f" * 64)  # someone rewrites where the kept chain starts
    check = audit_verify()
    assert not check.ok and "not signed" in check.reason


def test_nothing_younger_than_the_retention_is_purged() -> None:
    _records(3)
    assert audit_purge() == 0 and AuditEvent.objects.count() == 3 and not AuditCheckpoint.objects.exists()
