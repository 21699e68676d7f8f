"""The walking skeleton at the clerk's screen, through Django's test client."""

import pytest
from django.test import Client
from django.urls import reverse

from counters.models import CounterSession, SessionState
from devices.models import PrintJob, PrintStatus
from integrations.models import ExportBatch, ExportItem
from integrations.services import export_flush
from madoguchi.audit.models import AuditAction, AuditEvent
from tests.conftest import IVS_NAME
from tests.factories import PASSWORD, CounterFactory, UserFactory, atena

pytestmark = pytest.mark.django_db


@pytest.fixture
def counter():
    return CounterFactory()


def _open(client: Client, counter) -> CounterSession:
    response = client.post(reverse("counters:session_open"), {"counter": counter.code})
    assert response.status_code == 302
    return CounterSession.objects.latest("opened_at")


def test_login_page_is_served() -> None:
    response = Client().get(reverse("accounts:login"))
    assert response.status_code == 200
    assert "ログイン" in response.content.decode()


def test_counter_pages_need_a_clerk(counter) -> None:
    assert Client().get(reverse("counters:home")).status_code == 302
    auditor = Client()
    auditor.login(username=UserFactory(roles=["auditor"]).username, password=PASSWORD)
    assert auditor.get(reverse("counters:home")).status_code == 302


def test_reception_numbers_count_up_per_counter_and_day(clerk_client, counter) -> None:
    first, second = _open(clerk_client, counter), _open(clerk_client, counter)
    assert first.reception_no.endswith("-0001")
    assert second.reception_no.endswith("-0002")


def test_visit_from_search_to_print_and_export(
    clerk_client, clerk, counter, small_city, starter_forms, local_storage, django_capture_on_commit_callbacks
) -> None:
    session = _open(clerk_client, counter)
    url = reverse("counters:session", args=[session.reception_no])

    page = clerk_client.get(url, {"name": "かさい"}).content.decode()
    assert IVS_NAME in page  # shown byte-exact, variation selector included

    clerk_client.post(
        reverse("counters:session_identify", args=[session.reception_no]), {"atena_no": atena(1)}
    )
    session.refresh_from_db()
    assert session.state == SessionState.IDENTIFIED

    pdf = clerk_client.get(reverse("counters:session_form_pdf", args=[session.reception_no]))
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    views = AuditEvent.objects.filter(action=AuditAction.VIEW, target_ref=atena(1), actor=clerk)
    assert views.count() == 1  # the form (the test client does not follow the redirect to the session page)
    clerk_client.get(url)
    clerk_client.get(url)
    assert views.count() == 3  # every display of the person is recorded, reloads included

    with django_capture_on_commit_callbacks(execute=True):
        clerk_client.post(reverse("counters:session_finish", args=[session.reception_no]))
    session.refresh_from_db()
    assert session.state == SessionState.FINISHED
    assert (session.form_code, session.form_version) == ("juminido", 2)
    job = session.print_job
    assert job is not None
    assert job.status == PrintStatus.QUEUED and job.dispatch_count == 1
    assert AuditEvent.objects.filter(action=AuditAction.PRINT, target_ref=atena(1)).exists()

    keys = export_flush(storage=local_storage)
    assert len(keys) == 1
    data = local_storage.get(keys[0])
    lines = data.split(b"\r\n")
    assert lines[0].startswith("受付番号,届出日,異動事由,異動日,宛名番号".encode())
    assert session.reception_no.encode() in lines[1]
    assert IVS_NAME.encode() in lines[1]
    assert data.endswith(b"\r\n") and b"\n" not in data.replace(b"\r\n", b"")

    # Finishing again is refused and exports nothing more; flushing again writes nothing more.
    response = clerk_client.post(reverse("counters:session_finish", args=[session.reception_no]), follow=True)
    assert "cannot be finished" in response.content.decode()
    assert export_flush(storage=local_storage) == []
    assert ExportItem.objects.count() == 1 and ExportBatch.objects.count() == 1
    assert PrintJob.objects.count() == 1


def test_another_clerk_cannot_open_someone_elses_session(clerk_client, counter) -> None:
    session = _open(clerk_client, counter)
    other = Client()
    other.login(username=UserFactory(roles=["clerk"]).username, password=PASSWORD)
    assert other.get(reverse("counters:session", args=[session.reception_no])).status_code == 404


def test_export_waits_in_the_outbox_while_storage_is_down(
    clerk, counter, small_city, starter_forms, s3_bucket
) -> None:
    from counters import services
    from integrations.storage import S3Storage
    from tests.conftest import free_port

    session = services.counter_session_open(counter=counter, clerk=clerk)
    services.counter_session_identify(session=session, atena_no=atena(2), actor=clerk)
    services.counter_session_finish(session=session, actor=clerk)
    down = S3Storage(s3_bucket.bucket, endpoint_url=f"http://127.0.0.1:{free_port()}", region="us-east-1")
    assert export_flush(storage=down) == []
    batch = ExportBatch.objects.get()
    assert batch.written_at is None and batch.attempts == 1 and batch.last_error
    assert export_flush(storage=s3_bucket) == [batch.object_key]
    assert s3_bucket.get(batch.object_key).count(session.reception_no.encode()) == 1


def test_ui_is_japanese_first_and_translated() -> None:
    assert "パスワード" in Client().get(reverse("accounts:login")).content.decode()
    english = Client(headers={"accept-language": "en"}).get(reverse("accounts:login")).content.decode()
    assert "Password" in english and "パスワード" not in english


def test_finishing_with_a_formula_like_value_is_refused_and_changes_nothing(
    clerk, counter, starter_forms, local_storage
) -> None:
    from counters import services
    from tests.conftest import import_file
    from tests.factories import juki_csv, juki_row

    # 住民異動届's 方書 column is prefilled from the resident's 方書.
    import_file(local_storage, juki_csv([juki_row(1, 方書="=1+1")]))
    session = services.counter_session_open(counter=counter, clerk=clerk)
    services.counter_session_identify(session=session, atena_no=atena(1), actor=clerk)
    with pytest.raises(services.SessionError, match="column 方書"):
        services.counter_session_finish(session=session, actor=clerk)
    session.refresh_from_db()
    assert session.state == SessionState.IDENTIFIED
    assert not PrintJob.objects.exists() and not ExportItem.objects.exists()


def test_bad_page_numbers_and_missing_forms_are_handled(clerk_client, clerk, counter, small_city) -> None:
    session = _open(clerk_client, counter)
    url = reverse("counters:session", args=[session.reception_no])
    assert clerk_client.get(url, {"name": "タカハシ", "page": "abc"}).status_code == 200
    clerk_client.post(
        reverse("counters:session_identify", args=[session.reception_no]), {"atena_no": atena(3)}
    )
    # No form has been loaded: finishing says so instead of failing.
    response = clerk_client.post(reverse("counters:session_finish", args=[session.reception_no]), follow=True)
    assert "no version is published" in response.content.decode()
    assert (
        clerk_client.get(reverse("counters:session_form_pdf", args=[session.reception_no])).status_code == 409
    )
