"""The starter pack as a city receives it, and packets rendered on the render queue."""

import datetime as dt

import pytest
from django.core.management import call_command

from forms_engine.bindings import binding_check, binding_value
from forms_engine.models import FormTemplate, FormVersion, PacketRender, RenderStatus
from forms_engine.selectors import form_sample_context, form_version_current, render_source
from forms_engine.services import (
    MAX_RENDER_ATTEMPTS,
    form_fill,
    packet_render_request,
    packet_render_run,
    packet_renders_redispatch,
)
from tests.conftest import IVS_NAME
from tests.pdftools import pdf_fonts, pdf_pages, pdf_qr_codes, pdf_text

STARTER = {
    "juminido": "住民異動届",
    "juminhyo_seikyu": "住民票の写し等交付請求書",
    "inkan_toroku": "印鑑登録申請書",
    "inkan_shomei": "印鑑登録証明書交付申請書",
    "koseki_seikyu": "戸籍証明書等請求書",
    "kokuho_ido": "国民健康保険",
    "jido_teate": "児童手当",
    "kodomo_iryo": "子ども医療費",
    "koki_koreisha": "後期高齢者医療",
    "kaigo_hoken": "介護保険",
    "kokumin_nenkin": "国民年金",
    "tetsuzuki_annai": "手続",
}
TENNYU = (
    "juminido",
    "inkan_toroku",
    "kokuho_ido",
    "kokumin_nenkin",
    "jido_teate",
    "kodomo_iryo",
    "koki_koreisha",
    "kaigo_hoken",
)
pytestmark = pytest.mark.django_db


def test_the_starter_pack_holds_every_form_published_with_the_dictionary(starter_forms) -> None:
    templates = {template.code: template.name for template in FormTemplate.objects.all()}
    assert set(templates) == set(STARTER)
    for code, words in STARTER.items():
        assert words in templates[code], code
        version = form_version_current(code=code)
        assert version.is_published and version.spec().csv_columns, code
    overlay = form_version_current(code="inkan_toroku")
    assert overlay.spec().layout.mode == "overlay" and overlay.assets.count() == 1
    # Loading again changes nothing: every version is already here.
    call_command("load_starter_forms", verbosity=0)
    assert FormVersion.objects.count() == len(STARTER)


def test_the_tennyu_packet_renders_in_one_pdf_with_a_page_per_form(starter_forms, tmp_path) -> None:
    context = form_sample_context(today=dt.date(2026, 11, 21))
    forms = []
    for code in TENNYU:
        source = render_source(version=form_version_current(code=code))
        forms.append((source, form_fill(spec=source.spec, context=context)))
    from forms_engine.rendering import render_packet

    packet = render_packet(forms, reception_no="20261121-c1-0007")
    path = tmp_path / "tennyu.pdf"
    path.write_bytes(packet.pdf)
    assert packet.pages == pdf_pages(path) == len(TENNYU)
    fonts = pdf_fonts(path)
    assert "IPAmjMincho" in fonts and all(" yes " in line for line in fonts.splitlines()[2:])
    text = pdf_text(path)
    assert text.count(IVS_NAME) >= len(TENNYU)  # the household's name on every form, variation selector kept
    for page in (1, 2, len(TENNYU)):  # a flowing page, the overlay page, the last page
        assert pdf_qr_codes(path, page=page, tmp=tmp_path) == ["20261121-c1-0007"]


def test_age_filters_pick_the_children_and_the_elderly_of_the_household() -> None:
    context = form_sample_context(today=dt.date(2026, 11, 21))
    children = binding_value(
        binding_check("household|age_under(15)|join('、', 'shimei')", fields={}), context
    )
    elderly = binding_value(binding_check("household|age_at_least(75)|count", fields={}), context)
    assert children == "葛\U000e0102西　𠮷子" and elderly == 1


def _packet(reception_no: str = "20261121-c1-0009") -> PacketRender:
    context = form_sample_context(today=dt.date(2026, 11, 21))
    versions = [form_version_current(code=code) for code in ("juminido", "tetsuzuki_annai")]
    return packet_render_request(
        forms=[(version, form_fill(spec=version.spec(), context=context)) for version in versions],
        reception_no=reception_no,
        actor=None,
    )


def test_a_queued_packet_renders_once_and_forgets_its_personal_data(starter_forms, tmp_path) -> None:
    render = _packet()
    assert render.status == RenderStatus.QUEUED
    assert IVS_NAME in str(render.forms)  # the contexts wait in the row, not in the queue message
    assert packet_render_run(render_id=render.pk) == RenderStatus.DONE
    render.refresh_from_db()
    path = tmp_path / "packet.pdf"
    assert render.pdf is not None
    path.write_bytes(bytes(render.pdf))
    assert render.pages == pdf_pages(path) == 2
    assert IVS_NAME in pdf_text(path)
    assert IVS_NAME not in str(render.forms)  # dropped once rendered
    # A second delivery of the same task changes nothing.
    assert packet_render_run(render_id=render.pk) == RenderStatus.DONE
    render.refresh_from_db()
    assert (
        render.finished_at is not None and render.pdf is not None and bytes(render.pdf) == path.read_bytes()
    )


def test_a_packet_that_cannot_render_fails_with_the_forms_message(starter_forms) -> None:
    render = _packet()
    render.forms = [{**render.forms[0], "version": 999_999}]
    render.save()
    assert packet_render_run(render_id=render.pk) == RenderStatus.FAILED
    render.refresh_from_db()
    assert "999999" in render.message and render.pdf is None


def test_packets_the_broker_never_delivered_are_sent_again_then_failed(starter_forms) -> None:
    render = _packet()
    PacketRender.objects.filter(pk=render.pk).update(created_at=render.created_at - dt.timedelta(minutes=5))
    assert packet_renders_redispatch() == 1
    render.refresh_from_db()
    assert render.status == RenderStatus.QUEUED and render.attempts >= 1
    PacketRender.objects.filter(pk=render.pk).update(attempts=MAX_RENDER_ATTEMPTS)
    packet_renders_redispatch()
    render.refresh_from_db()
    assert render.status == RenderStatus.FAILED and render.forms == []


def test_finished_packets_are_deleted_after_the_retention_time(starter_forms, settings) -> None:
    render = _packet()
    packet_render_run(render_id=render.pk)
    settings.MADOGUCHI_PRINT_RETENTION_HOURS = 24
    packet_renders_redispatch()
    assert PacketRender.objects.filter(pk=render.pk).exists()
    PacketRender.objects.filter(pk=render.pk).update(finished_at=render.created_at - dt.timedelta(hours=25))
    packet_renders_redispatch()
    assert not PacketRender.objects.filter(pk=render.pk).exists()
