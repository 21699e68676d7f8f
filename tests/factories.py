"""factory_boy factories and builders of canonical 住民記録 v1 files for tests."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

import factory
from django.contrib.auth.models import Group

from counters.models import Counter
from devices.models import Terminal
from integrations.layouts import JUKI_V1_COLUMNS
from madoguchi.accounts.models import User
from madoguchi.moji.checkdigit import with_check_digit

PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"staff{n}")
    display_name = factory.Sequence(lambda n: f"職員{n}")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def roles(obj: User, create: bool, extracted: Iterable[str] | None, **kwargs: object) -> None:
        if create:
            obj.save()
            for role in extracted or ():
                obj.groups.add(Group.objects.get_or_create(name=role)[0])


class TerminalFactory(factory.django.DjangoModelFactory[Terminal]):
    class Meta:
        model = Terminal

    code = factory.Sequence(lambda n: f"T{n:02d}")
    name = factory.Sequence(lambda n: f"端末{n}")
    secret = factory.Sequence(lambda n: f"secret-{n}")


class CounterFactory(factory.django.DjangoModelFactory[Counter]):
    class Meta:
        model = Counter

    code = factory.Sequence(lambda n: f"c{n}")
    name = factory.Sequence(lambda n: f"市民課 {n}番窓口")
    department = "市民課"
    terminal = factory.SubFactory(TerminalFactory)


def atena(n: int) -> str:
    """A valid 宛名番号 (M11W2-7) for a small serial number."""
    return with_check_digit(f"{n:09d}", ten="0")


def juki_row(n: int, **values: str) -> dict[str, str]:
    """One canonical row for person ``n`` (household ``n``), with ``values`` overriding columns."""
    row = dict.fromkeys(JUKI_V1_COLUMNS, "")
    row.update(
        {
            "宛名番号": atena(n),
            "世帯番号": with_check_digit(f"{900000000 + n:09d}", ten="0"),
            "住民種別": "1",
            "住民状態": "1",
            "氏": "山田",
            "名": f"太郎{n}",
            "氏カナ": "ヤマダ",
            "名カナ": "タロウ",
            "生年月日": "1980-01-01",
            "性別": "1",
            "続柄": "世帯主",
            "世帯主氏名": f"山田　太郎{n}",
            "郵便番号": "7600001",
            "住所": "窓口市中央町一丁目1番1号",
            "国保": "0",
            "後期高齢": "0",
            "介護保険": "0",
            "児童手当": "0",
            "更新日時": "2026-11-01T09:00:00+09:00",
        }
    )
    row.update(values)
    return row


def juki_csv(
    rows: Iterable[dict[str, str]], *, columns: Iterable[str] = JUKI_V1_COLUMNS, encoding: str = "utf-8"
) -> bytes:
    buffer = io.StringIO(newline="")
    cols = list(columns)
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(cols)
    for row in rows:
        writer.writerow([row.get(c, "") for c in cols])
    return buffer.getvalue().encode(encoding)
