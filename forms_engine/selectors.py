"""Reads of the forms engine."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from .models import FieldDefinition, FormTemplate, FormVersion, VersionStatus
from .rendering import RenderSource


def _in_effect(on: dt.date | None) -> QuerySet[FormVersion]:
    day = on or timezone.localdate()
    return (
        FormVersion.objects.select_related("template")
        .filter(status=VersionStatus.PUBLISHED)
        .filter(Q(effective_from=None) | Q(effective_from__lte=day))
        .filter(Q(effective_to=None) | Q(effective_to__gte=day))
    )


def form_version_current(*, code: str, on: dt.date | None = None) -> FormVersion:
    """The newest published version of the form ``code`` in effect on ``on`` (default today): effective from
    empty or on/before that day, to empty or on/after it. Raises FormVersion.DoesNotExist if none."""
    return _in_effect(on).filter(template__code=code).latest("number")


def form_versions_current(*, codes: list[str], on: dt.date | None = None) -> dict[str, FormVersion]:
    """``form_version_current`` for several forms in one query: code → version, for the codes that have one."""
    current: dict[str, FormVersion] = {}
    for version in _in_effect(on).filter(template__code__in=codes).order_by("template__code", "-number"):
        current.setdefault(version.template.code, version)
    return current


def form_templates_all() -> QuerySet[FormTemplate]:
    return FormTemplate.objects.prefetch_related("versions").order_by("code")


def field_definitions_all() -> QuerySet[FieldDefinition]:
    return FieldDefinition.objects.order_by("key")


def render_source(*, version: FormVersion) -> RenderSource:
    """What the renderer needs of ``version``: its validated content and its background images. A published
    version never changes, so what is read for it once is kept for the life of the process."""
    if version.is_published and version.published_at is not None:
        return _published_source(version.pk, version.published_at)
    return _source(version)


@functools.lru_cache(maxsize=256)
def _published_source(pk: int, published_at: dt.datetime) -> RenderSource:
    # Keyed by the publishing time too: a row id alone can be reused after a rollback (tests, SQLite).
    version = FormVersion.objects.select_related("template").get(pk=pk, published_at=published_at)
    return _source(version)


def _source(version: FormVersion) -> RenderSource:
    assets = list(version.assets.all())
    return RenderSource(
        code=version.template.code,
        name=version.template.name,
        number=version.number,
        spec=version.spec(),
        backgrounds={asset.name: bytes(asset.data) for asset in assets},
        content_types={asset.name: asset.content_type for asset in assets},
    )


def _sample_person(**values: Any) -> dict[str, Any]:
    person = {
        "atena_no": "0000000019",
        "setai_no": "9000000015",
        "shi": "葛\U000e0102西",
        "mei": "花子",
        "shi_kana": "カサイ",
        "mei_kana": "ハナコ",
        "eiji_shimei": "",
        "birth_date": dt.date(1980, 1, 1),
        "sex": "女",
        "zokugara": "世帯主",
        "setainushi_shimei": "葛\U000e0102西　花子",
        "postal_code": "7600001",
        "address": f"{settings.MADOGUCHI_CITY_NAME}髙松町一丁目1番1号",
        "katagaki": "﨑山ハイツ101",
        "honseki": "香川県高松市番町一丁目1番",
        "hittousha": "葛\U000e0102西　太郎",
        "previous_address": "東京都千代田区霞が関二丁目1番2号",
        "foreign": False,
    }
    person |= values
    person["shimei"] = f"{person['shi']}　{person['mei']}"
    person["kana"] = f"{person['shi_kana']}　{person['mei_kana']}"
    return person


def form_sample_context(*, today: dt.date | None = None) -> dict[str, Any]:
    """A fictional four-person household for previews and checks: MJ variants (葛+U+E0102, 髙, 﨑), a child
    under 15 and a grandparent over 75, so every form of the starter pack has something to show."""
    head = _sample_person()
    household = [
        head,
        _sample_person(
            atena_no="0000000027",
            mei="太郎",
            mei_kana="タロウ",
            birth_date=dt.date(1978, 6, 15),
            sex="男",
            zokugara="夫",
        ),
        _sample_person(
            atena_no="0000000035",
            mei="𠮷子",
            mei_kana="ヨシコ",
            birth_date=dt.date(2016, 4, 2),
            sex="女",
            zokugara="子",
        ),
        _sample_person(
            atena_no="0000000043",
            mei="辻\U000e0102枝",
            mei_kana="ツジエ",
            birth_date=dt.date(1945, 2, 11),
            sex="女",
            zokugara="母",
        ),
    ]
    return {
        "city": {"name": settings.MADOGUCHI_CITY_NAME},
        "today": today or timezone.localdate(),
        "session": {
            "reception_no": "SAMPLE-0001",
            "event": "転入",
            "counter": "c1",
            "counter_name": "1番窓口",
            "clerk": "",
        },
        "resident": head,
        "household": household,
        "card": {},
        "answers": {},
        "procedures": [
            {
                "name": "国民健康保険の加入",
                "department": "保険年金課",
                "counter": "3番窓口",
                "bring": "本人確認書類",
                "note": "",
            },
            {
                "name": "児童手当の認定請求",
                "department": "こども家庭課",
                "counter": "7番窓口",
                "bring": "請求者名義の預金通帳",
                "note": "転入日の翌日から15日以内",
            },
        ],
    }
