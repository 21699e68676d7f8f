"""The annual personnel update (人事異動): upload a staff CSV, preview, confirm, apply on the 異動日; audited."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from madoguchi.accounts import personnel, services
from madoguchi.accounts.models import StaffCard, StaffChange, StaffUpdate, User
from madoguchi.audit.models import AuditEvent
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

CARD_NEW = "04A23B1C5D6E80"
CARD_OTHER = "0102030405060708"
HEADER = "職員番号,氏名,所属,役割,ICカードID,異動日\r\n"


@pytest.fixture
def admin() -> tuple[Client, User]:
    user = UserFactory.create(roles=["system_admin"])
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client, user


@pytest.fixture
def staff() -> dict[str, User]:
    """Four staff the city has: a clerk who moves, one who stays, one who retires, one the file forgets; and a
    system account without a 職員番号."""
    return {
        "mover": UserFactory.create(
            roles=["clerk"], staff_no="1001", display_name="異動 一郎", department="市民課"
        ),
        "stayer": UserFactory.create(
            roles=["clerk"], staff_no="1002", display_name="残留 二郎", department="市民課"
        ),
        "retiree": UserFactory.create(
            roles=["clerk"], staff_no="1003", display_name="退職 三郎", department="税務課"
        ),
        "forgotten": UserFactory.create(roles=["supervisor"], staff_no="1004", department="市民課"),
        "system": UserFactory.create(roles=["system_admin"], username="ops"),
    }


def _upload(client: Client, text: str, *, name: str = "jinji.csv", encoding: str = "cp932") -> Any:
    file = SimpleUploadedFile(name, text.encode(encoding), content_type="text/csv")
    return client.post(reverse("staff:index"), {"file": file})


def _file(effective: dt.date, later: dt.date) -> str:
    return HEADER + "".join(
        [
            f"1001,異動 一郎,保険年金課,窓口職員・supervisor,,{effective:%Y/%m/%d}\r\n",
            f"1002,残留 二郎,市民課,clerk,,{effective:%Y-%m-%d}\r\n",
            f"1003,退職 三郎,,退職,,{effective:%Y-%m-%d}\r\n",
            f"2001,新人 花子,市民課,clerk,{CARD_NEW},{effective:%Y-%m-%d}\r\n",
            f"2002,来月 四郎,税務課,clerk,,令和{later.year - 2018}年{later.month}月{later.day}日\r\n",
        ]
    )


def test_a_staff_file_is_previewed_then_applied_on_its_dates(admin, staff) -> None:
    client, admin_user = admin
    today = timezone.localdate()
    later = today + dt.timedelta(days=40)
    response = _upload(client, _file(today, later))
    assert response.status_code == 302
    update = StaffUpdate.objects.get()
    assert response["Location"] == reverse("staff:update", args=[update.pk])

    # The preview: nothing changed yet.
    page = client.get(response["Location"]).content.decode()
    kinds = dict(StaffChange.objects.values_list("staff_no", "kind"))
    assert kinds == {
        "1001": "changed",
        "1003": "leaving",
        "2001": "new",
        "2002": "new",
        "1004": "leaving",  # not in the file
    }
    assert update.rows == 5 and update.unchanged == 1
    assert 'data-staff-no="1001" data-kind="changed"' in page and "市民課 → 保険年金課" in page
    assert "clerk → clerk・supervisor" in page
    assert not User.objects.filter(staff_no="2001").exists()
    assert User.objects.get(staff_no="1003").is_active

    response = client.post(reverse("staff:confirm", args=[update.pk]))
    assert response.status_code == 302
    mover = User.objects.get(staff_no="1001")
    assert mover.department == "保険年金課"
    assert sorted(mover.groups.values_list("name", flat=True)) == ["clerk", "supervisor"]
    retiree = User.objects.get(staff_no="1003")
    assert not retiree.is_active and not retiree.groups.exists()
    assert not Client().login(username=retiree.username, password=PASSWORD)
    new = User.objects.get(staff_no="2001")
    assert new.username == "2001" and new.department == "市民課" and new.display_name == "新人 花子"
    assert not new.has_usable_password()  # a system admin sets it; then the card PIN
    assert StaffCard.objects.get(card_id_digest=services.card_id_digest(CARD_NEW)).user == new
    forgotten = User.objects.get(staff_no="1004")
    assert forgotten.is_active  # leaves on the file's last 異動日, 40 days on
    assert not User.objects.filter(staff_no="2002").exists()
    system = User.objects.get(username="ops")
    assert system.is_active and system.groups.filter(name="system_admin").exists()

    # The rest applies on its date, once.
    assert personnel.staff_changes_apply(today=later) == 2
    assert personnel.staff_changes_apply(today=later) == 0
    assert User.objects.get(staff_no="2002").department == "税務課"
    assert not User.objects.get(staff_no="1004").is_active

    records = AuditEvent.objects.filter(target_type="user", detail__kind__startswith="staff_")
    assert sorted(records.values_list("target_ref", flat=True)) == ["1001", "1003", "1004", "2001", "2002"]
    assert AuditEvent.objects.filter(actor=admin_user, detail__kind="staff_update_confirmed").exists()
    uploaded = AuditEvent.objects.get(detail__kind="staff_file_uploaded")
    assert uploaded.detail["changes"] == {"new": 2, "changed": 1, "leaving": 2}
    texts = str(list(AuditEvent.objects.values_list("detail", "target_ref")))
    assert "花子" not in texts and "一郎" not in texts and CARD_NEW not in texts


def test_a_cancelled_update_applies_nothing_more(admin, staff) -> None:
    client, _user = admin
    today = timezone.localdate()
    _upload(client, _file(today, today + dt.timedelta(days=10)))
    update = StaffUpdate.objects.get()
    client.post(reverse("staff:cancel", args=[update.pk]))
    assert client.post(reverse("staff:confirm", args=[update.pk])).status_code == 302
    assert "取り消されています" in client.get(reverse("staff:update", args=[update.pk])).content.decode()
    assert personnel.staff_changes_apply(today=today + dt.timedelta(days=30)) == 0
    assert User.objects.get(staff_no="1001").department == "市民課"


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        (
            "1001,異動 一郎,市民課,店長,,2027-04-01\r\n",
            "2行目 役割: 「店長」という役割（グループ）はありません",
        ),
        ("1001,異動 一郎,市民課,clerk,,来年の春\r\n", "2行目 異動日: 日付として読めません"),
        (
            "1001,a,市民課,clerk,,2027-04-01\r\n1001,b,市民課,clerk,,2027-04-01\r\n",
            "3行目 職員番号: 1001 は2行目と重複",
        ),
        ("../1001,a,市民課,clerk,,2027-04-01\r\n", "2行目 職員番号: 英数字とハイフン"),
        ("1001,a,市民課,clerk,XYZ,2027-04-01\r\n", "2行目 ICカードID: 16進数"),
        ("1001,a,市民課\r\n", "2行目: 列が足りません"),
        ("2001,a,市民課,clerk・退職,,2027-04-01\r\n", "「退職」は他の役割と一緒に書けません"),
        ("2001,,市民課,clerk,,2027-04-01\r\n", "2行目 氏名: 空です"),
    ],
)
def test_a_wrong_row_refuses_the_whole_file_naming_line_and_column(
    admin, staff, rows: str, problem: str
) -> None:
    client, _user = admin
    response = _upload(client, HEADER + rows)
    assert response.status_code == 400
    assert problem in response.content.decode()
    assert not StaffUpdate.objects.exists() and not StaffChange.objects.exists()
    assert User.objects.get(staff_no="1001").department == "市民課"


def test_a_file_that_is_not_a_staff_list_is_refused(admin, staff) -> None:
    client, _user = admin
    response = _upload(client, "名前,住所\r\nx,y\r\n")
    assert response.status_code == 400 and "見出しに 職員番号、氏名、所属、役割、異動日 がありません" in (
        response.content.decode()
    )
    response = client.post(
        reverse("staff:index"), {"file": SimpleUploadedFile("x.csv", b"\xff\xfe\x00\x81\xff\xff")}
    )
    assert response.status_code == 400 and "文字コードを読み取れません" in response.content.decode()
    assert not StaffUpdate.objects.exists()


def test_a_card_of_someone_else_is_refused(admin, staff) -> None:
    client, admin_user = admin
    services.staff_card_register(user=staff["stayer"], card_id=CARD_OTHER, actor=admin_user)
    response = _upload(client, HEADER + f"1001,異動 一郎,市民課,clerk,{CARD_OTHER},2027-04-01\r\n")
    assert response.status_code == 400 and "別の職員に登録されています" in response.content.decode()


def test_utf8_with_bom_and_a_path_in_the_file_name(admin, staff) -> None:
    client, _user = admin
    text = "\ufeff" + HEADER + "1001,異動 一郎,市民課,clerk,,2027-04-01\r\n"
    response = _upload(client, text, name="../../etc/passwd<script>.csv", encoding="utf-8")
    assert response.status_code == 302
    update = StaffUpdate.objects.get()
    assert update.filename == "passwd<script>.csv"
    page = client.get(reverse("staff:index")).content.decode()
    assert "passwd&lt;script&gt;.csv" in page and "<script>.csv" not in page
    assert personnel.filename_shown("C:\\Users\\x\\職員.csv") == "職員.csv"
