"""The outbox as issue 7 shapes it: destinations, batches of several files with a manifest written last, a
reception's PDF kept for export, rows with revisions, results and sealed secrets.

The walking skeleton's outbox tables (one file per batch, no results) are replaced; rows still waiting in them are
not carried over (no city ran that version)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("integrations", "0007_address_key_indexes")]

    operations = [
        migrations.DeleteModel(name="ExportItem"),
        migrations.DeleteModel(name="ExportBatch"),
        migrations.CreateModel(
            name="ExportDestination",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("code", models.SlugField(max_length=32, unique=True, verbose_name="コード")),
                ("name", models.CharField(max_length=100, verbose_name="名称")),
                ("prefix", models.CharField(max_length=200, unique=True, verbose_name="出力先プレフィックス")),
                ("bom", models.BooleanField(default=False, verbose_name="BOM付きUTF-8")),
                (
                    "repertoire",
                    models.CharField(
                        choices=[
                            ("mj", "MJ+（UTF-8、そのまま）"),
                            ("jisx0213", "JIS X 0213まで（縮退列と置換報告を追加）"),
                        ],
                        default="mj",
                        max_length=16,
                        verbose_name="文字の範囲",
                    ),
                ),
                (
                    "degraded_columns",
                    models.JSONField(blank=True, default=list, verbose_name="縮退列を付ける列"),
                ),
                ("kinds", models.JSONField(blank=True, default=list, verbose_name="様式")),
                ("active", models.BooleanField(default=True, verbose_name="有効")),
            ],
            options={
                "verbose_name": "出力先",
                "verbose_name_plural": "出力先",
            },
        ),
        migrations.CreateModel(
            name="ExportDocument",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("reception_no", models.CharField(max_length=64, unique=True, verbose_name="受付番号")),
                ("pdf", models.FileField(upload_to="outbox/%Y/%m/%d/")),
                ("sha256", models.CharField(max_length=64)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "verbose_name": "出力PDF",
                "verbose_name_plural": "出力PDF",
            },
        ),
        migrations.CreateModel(
            name="ExportBatch",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("day", models.DateField(verbose_name="日付")),
                ("seq", models.PositiveIntegerField(verbose_name="連番")),
                ("prefix", models.CharField(max_length=300, verbose_name="出力先")),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("written_at", models.DateTimeField(blank=True, null=True, verbose_name="出力日時")),
                ("attempts", models.PositiveIntegerField(default=0, verbose_name="試行回数")),
                ("last_error", models.TextField(blank=True, verbose_name="エラー")),
                ("manifest_sha256", models.CharField(blank=True, max_length=64)),
                ("resend_requested", models.BooleanField(default=False, verbose_name="再送待ち")),
                ("result_read_at", models.DateTimeField(blank=True, null=True, verbose_name="結果取込日時")),
                ("result_counts", models.JSONField(blank=True, default=dict, verbose_name="結果")),
                ("result_error", models.TextField(blank=True, verbose_name="結果ファイルのエラー")),
                (
                    "destination",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="batches",
                        to="integrations.exportdestination",
                    ),
                ),
            ],
            options={
                "verbose_name": "出力バッチ",
                "verbose_name_plural": "出力バッチ",
            },
        ),
        migrations.CreateModel(
            name="ExportItem",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("kind", models.CharField(max_length=64, verbose_name="様式")),
                ("reception_no", models.CharField(max_length=64, verbose_name="受付番号")),
                ("revision", models.PositiveIntegerField(default=1, verbose_name="版")),
                ("layout", models.CharField(blank=True, max_length=80, verbose_name="レイアウト")),
                ("header", models.JSONField()),
                ("rows", models.JSONField()),
                ("secrets", models.TextField(blank=True)),
                ("sealed_columns", models.JSONField(blank=True, default=list)),
                ("sealed_at", models.DateTimeField(blank=True, null=True)),
                ("secrets_purged_at", models.DateTimeField(blank=True, null=True)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "出力待ち"),
                            ("sent", "出力済"),
                            ("ok", "取込済"),
                            ("ng", "取込エラー"),
                            ("superseded", "再出力済"),
                        ],
                        default="pending",
                        max_length=16,
                        verbose_name="状態",
                    ),
                ),
                ("message", models.CharField(blank=True, max_length=300, verbose_name="メッセージ")),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("acknowledged_at", models.DateTimeField(blank=True, null=True, verbose_name="結果日時")),
                (
                    "batch",
                    models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="items",
                        to="integrations.exportbatch",
                    ),
                ),
                (
                    "destination",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="items",
                        to="integrations.exportdestination",
                    ),
                ),
            ],
            options={
                "verbose_name": "出力行",
                "verbose_name_plural": "出力行",
            },
        ),
        migrations.AddConstraint(
            model_name="exportbatch",
            constraint=models.UniqueConstraint(fields=("destination", "day", "seq"), name="export_batch_seq"),
        ),
        migrations.AddIndex(
            model_name="exportitem",
            index=models.Index(fields=["batch", "kind"], name="export_item_batch"),
        ),
        migrations.AddIndex(
            model_name="exportitem",
            index=models.Index(fields=["reception_no"], name="export_item_reception"),
        ),
        migrations.AddIndex(
            model_name="exportitem",
            index=models.Index(
                condition=models.Q(("batch", None)), fields=["destination", "id"], name="export_item_unbatched"
            ),
        ),
        migrations.AddIndex(
            model_name="exportitem",
            index=models.Index(condition=models.Q(("status", "ng")), fields=["id"], name="export_item_refused"),
        ),
        migrations.AddConstraint(
            model_name="exportitem",
            constraint=models.UniqueConstraint(
                fields=("kind", "reception_no", "revision"), name="export_item_once"
            ),
        ),
    ]
