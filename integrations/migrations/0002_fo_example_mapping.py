"""Ships the ＦＯ－ vendor layout of domain.md §1 as an example column mapping (inactive)."""

from django.db import migrations

CANONICAL = (
    "宛名番号", "世帯番号", "住民票コード", "住民種別", "住民状態", "英字氏名", "旧氏", "旧氏カナ", "通称", "通称カナ",
    "生年月日", "性別", "続柄", "世帯主氏名", "郵便番号", "住所", "方書", "住所コード", "住民となった年月日",
    "住所を定めた年月日", "転入前住所", "本籍", "筆頭者", "国籍地域", "在留資格", "在留期間", "在留期間満了日",
    "在留カード等番号", "国保", "後期高齢", "介護保険", "国民年金種別", "児童手当", "異動事由", "異動年月日", "更新日時",
)  # fmt: skip


def create(apps, schema_editor):
    ColumnMapping = apps.get_model("integrations", "ColumnMapping")
    ColumnMapping.objects.get_or_create(
        name="fo-example",
        defaults={
            "description": "例: 列名に「ＦＯ－」が付き、氏名とカナ氏名が全角空白区切りの 1 列のレイアウト",
            "columns": {f"ＦＯ－{column}": column for column in ("処理区分", *CANONICAL)},
            "splits": {"ＦＯ－漢字氏名": ["氏", "名"], "ＦＯ－カナ氏名": ["氏カナ", "名カナ"]},
            "active": False,
        },
    )


class Migration(migrations.Migration):
    dependencies = [("integrations", "0001_initial")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
