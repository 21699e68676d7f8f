"""The linkage admin pages a system admin uses: the ledger with its errors and reports, the mapping editor."""

import pytest
from django.test import Client
from django.urls import reverse

from integrations.models import ColumnMapping, ImportRun, ImportStatus
from integrations.services import inbound_pickup
from tests.factories import PASSWORD, UserFactory, juki_csv, juki_row

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    user = UserFactory.create(roles=["system_admin"], is_staff=True, is_superuser=True)
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_the_ledger_shows_a_rejection_and_serves_its_report(admin_client, local_storage) -> None:
    local_storage.put("inbound/JUKI_20261101090000_000001_FULL.csv", juki_csv([juki_row(1, 性別="5")]))
    inbound_pickup(storage=local_storage)
    run = ImportRun.objects.get()
    assert run.status == ImportStatus.REJECTED
    listing = admin_client.get(reverse("admin:integrations_importrun_changelist")).content.decode()
    assert "JUKI_20261101090000_000001_FULL.csv" in listing
    page = admin_client.get(reverse("admin:integrations_importrun_change", args=[run.pk])).content.decode()
    assert "code &#x27;5&#x27; is not one of 1, 2" in page
    from madoguchi.audit.models import AuditEvent

    assert AuditEvent.objects.filter(target_type="import_errors", target_ref=str(run.pk)).exists()
    report = admin_client.get(reverse("admin:integrations_importrun_report", args=[run.pk]))
    assert report.status_code == 200 and "性別" in report.content.decode("utf-8-sig")


def test_a_clerk_cannot_open_the_ledger(local_storage) -> None:
    client = Client()
    client.login(username=UserFactory.create(roles=["clerk"]).username, password=PASSWORD)
    assert client.get(reverse("admin:integrations_importrun_changelist")).status_code == 302


def test_the_mapping_editor_refuses_unknown_targets(admin_client) -> None:
    url = reverse("admin:integrations_columnmapping_add")
    bad = admin_client.post(url, {"name": "vendor", "columns": '{"ＸＸ－宛名": "宛名"}', "splits": "{}"})
    assert "住民記録 v1 の列ではありません" in bad.content.decode()
    good = admin_client.post(url, {"name": "vendor", "columns": '{"ＸＸ－宛名": "宛名番号"}', "splits": "{}",
                                   "active": "on"})  # fmt: skip
    assert good.status_code == 302
    assert ColumnMapping.objects.get(name="vendor").active
    assert ColumnMapping.objects.filter(active=True).count() == 1
