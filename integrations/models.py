"""The resident mirror (the core system's 住民記録 data), the import ledger, and the outbound outbox."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import OuterRef
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

JUUMIN_JOTAI = [("1", _("住民")), ("2", _("転出")), ("3", _("死亡")), ("9", _("その他消除"))]


class Resident(models.Model):
    """One person of the 住民記録 mirror, field for field from the canonical 住民記録 v1 layout.

    Names and addresses are stored byte-exact as received (MJ+). A household (世帯) is the residents sharing a
    世帯番号. ``kana_key`` and ``kanji_key`` are derived search keys (madoguchi.moji), never shown.
    """

    atena_no = models.CharField(_("宛名番号"), max_length=20, primary_key=True)
    setai_no = models.CharField(_("世帯番号"), max_length=20, db_index=True)
    juminhyo_code = models.CharField(_("住民票コード"), max_length=11, blank=True)
    juumin_shubetsu = models.CharField(_("住民種別"), max_length=1)
    juumin_jotai = models.CharField(_("住民状態"), max_length=1, choices=JUUMIN_JOTAI)
    shi = models.CharField(_("氏"), max_length=100, blank=True)
    mei = models.CharField(_("名"), max_length=100, blank=True)
    shi_kana = models.CharField(_("氏カナ"), max_length=100, blank=True)
    mei_kana = models.CharField(_("名カナ"), max_length=100, blank=True)
    eiji_shimei = models.CharField(_("英字氏名"), max_length=200, blank=True)
    kyuuji = models.CharField(_("旧氏"), max_length=100, blank=True)
    kyuuji_kana = models.CharField(_("旧氏カナ"), max_length=100, blank=True)
    tsuushou = models.CharField(_("通称"), max_length=100, blank=True)
    tsuushou_kana = models.CharField(_("通称カナ"), max_length=100, blank=True)
    birth_date = models.DateField(_("生年月日"), db_index=True)
    sex = models.CharField(_("性別"), max_length=1)
    zokugara = models.CharField(_("続柄"), max_length=50, blank=True)
    setainushi_shimei = models.CharField(_("世帯主氏名"), max_length=200, blank=True)
    postal_code = models.CharField(_("郵便番号"), max_length=7, blank=True)
    address = models.CharField(_("住所"), max_length=300)
    katagaki = models.CharField(_("方書"), max_length=200, blank=True)
    address_code = models.CharField(_("住所コード"), max_length=20, blank=True)
    became_resident_on = models.DateField(_("住民となった年月日"), null=True, blank=True)
    address_set_on = models.DateField(_("住所を定めた年月日"), null=True, blank=True)
    previous_address = models.CharField(_("転入前住所"), max_length=300, blank=True)
    honseki = models.CharField(_("本籍"), max_length=300, blank=True)
    hittousha = models.CharField(_("筆頭者"), max_length=200, blank=True)
    nationality = models.CharField(_("国籍地域"), max_length=100, blank=True)
    zairyuu_shikaku = models.CharField(_("在留資格"), max_length=100, blank=True)
    zairyuu_kikan = models.CharField(_("在留期間"), max_length=50, blank=True)
    zairyuu_expires_on = models.DateField(_("在留期間満了日"), null=True, blank=True)
    zairyuu_card_no = models.CharField(_("在留カード等番号"), max_length=12, blank=True)
    kokuho = models.BooleanField(_("国保"), default=False)
    kouki_koureisha = models.BooleanField(_("後期高齢"), default=False)
    kaigo_hoken = models.BooleanField(_("介護保険"), default=False)
    nenkin_shubetsu = models.CharField(_("国民年金種別"), max_length=1, blank=True)
    jidou_teate = models.BooleanField(_("児童手当"), default=False)
    idou_jiyuu = models.CharField(_("異動事由"), max_length=50, blank=True)
    idou_date = models.DateField(_("異動年月日"), null=True, blank=True)
    updated_at_source = models.CharField(_("更新日時"), max_length=40, blank=True)
    # Prefix indexes on these keys are PostgreSQL pattern-ops indexes (migration 0003).
    kana_key = models.CharField(_("カナ検索キー"), max_length=200)
    kanji_key = models.CharField(_("漢字検索キー"), max_length=200)
    address_key = models.CharField(_("住所検索キー"), max_length=300)
    # The digest of the file record this row came from, under the rules it was checked by
    # (integrations.juki_import.RecordDigest): a later snapshot's identical record leaves the row as it is.
    source_digest = models.UUIDField(_("取込元レコードのダイジェスト"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("住民")
        verbose_name_plural = _("住民")
        ordering = ["atena_no"]

    def __str__(self) -> str:
        # Never a name: this string ends up in logs and admin history.
        return self.atena_no


class AddressKey(models.Model):
    """Every distinct ``Resident.address_key`` in the mirror, once: address fragments are searched here (a
    trigram index over a few hundred thousand distinct addresses instead of millions of residents), then the
    residents are found by their key. Kept exactly in step with the mirror by every write of it
    (integrations.mirror)."""

    # On PostgreSQL in collation "C" (migration 0007); an AlterField here would reset it: repeat that ALTER then.
    key = models.CharField(_("住所検索キー"), max_length=300, primary_key=True)

    class Meta:
        verbose_name = _("住所検索キー")
        verbose_name_plural = _("住所検索キー")

    def __str__(self) -> str:
        return "address key"  # never the address: this string ends up in logs


class ImportStatus(models.TextChoices):
    PENDING = "pending", _("待機")
    RUNNING = "running", _("取込中")
    APPLIED = "applied", _("反映済")
    REJECTED = "rejected", _("却下")
    FAILED = "failed", _("取込失敗")
    SKIPPED = "skipped", _("スキップ")
    IGNORED = "ignored", _("対象外")


class ImportKind(models.TextChoices):
    FULL = "full", _("全件")
    DIFF = "diff", _("差分")


class ImportOrigin(models.TextChoices):
    PICKUP = "pickup", _("定期取込")
    COMMAND = "command", _("コマンド")


class ImportRun(models.Model):
    """The inbound ledger: every object seen under the inbound prefix (and every file imported by command),
    with its checksum, what happened, row counts, timings and errors. Final states: applied, rejected,
    skipped, ignored; ``failed`` (storage or database trouble) is retried by the next pick-up."""

    source = models.CharField(_("ファイル"), max_length=500)
    key = models.CharField(_("オブジェクトキー"), max_length=500, blank=True)
    origin = models.CharField(_("取込方法"), max_length=16, choices=ImportOrigin.choices)
    kind = models.CharField(_("種別"), max_length=8, choices=ImportKind.choices, blank=True)
    stamp = models.DateTimeField(_("作成日時"), null=True, blank=True)
    seq = models.PositiveIntegerField(_("連番"), null=True, blank=True)
    mapping = models.CharField(_("列対応"), max_length=64, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    status = models.CharField(_("状態"), max_length=16, choices=ImportStatus.choices)
    rows = models.PositiveIntegerField(_("件数"), default=0)
    added = models.PositiveIntegerField(_("追加"), default=0)
    changed = models.PositiveIntegerField(_("変更"), default=0)
    removed = models.PositiveIntegerField(_("消除"), default=0)
    error_count = models.PositiveIntegerField(_("エラー件数"), default=0)
    errors = models.JSONField(_("エラー"), default=list, blank=True)
    report_key = models.CharField(_("エラーレポート"), max_length=500, blank=True)
    attempts = models.PositiveIntegerField(_("試行回数"), default=0)
    note = models.CharField(_("備考"), max_length=500, blank=True)
    seen_at = models.DateTimeField(_("検出日時"), auto_now_add=True)
    started_at = models.DateTimeField(_("開始日時"), null=True, blank=True)
    finished_at = models.DateTimeField(_("終了日時"), null=True, blank=True)

    class Meta:
        verbose_name = _("取込履歴")
        verbose_name_plural = _("取込履歴")
        ordering = ["-seen_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source"], condition=models.Q(origin="pickup"), name="pickup_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.source} ({self.status})"

    @property
    def seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class InboundPickup(models.Model):
    """One scheduled look at the inbound prefix: whether storage answered, what was found and applied."""

    started_at = models.DateTimeField(_("開始日時"), auto_now_add=True)
    finished_at = models.DateTimeField(_("終了日時"), null=True, blank=True)
    ok = models.BooleanField(_("成功"), default=False)
    seen = models.PositiveIntegerField(_("新規ファイル"), default=0)
    applied = models.PositiveIntegerField(_("反映"), default=0)
    message = models.CharField(_("メッセージ"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("定期取込")
        verbose_name_plural = _("定期取込")
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.started_at:%Y-%m-%d %H:%M} {'OK' if self.ok else 'NG'}"


class InboundLease(models.Model):
    """At most one pick-up runs at a time: it holds this row's lease, renewed before each file."""

    name = models.CharField(max_length=32, primary_key=True)
    holder = models.CharField(max_length=32, blank=True)
    until = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class ColumnMapping(models.Model):
    """A vendor's CSV layout mapped onto the canonical 住民記録 v1 columns (R-L3), edited by a system admin.

    ``columns``: {vendor header: canonical column, or "" to ignore the column}. ``splits``: {vendor header:
    [first canonical column, second canonical column]} for a one-column name split at the first full-width
    space (e.g. 氏名 → 氏, 名). The active mapping applies to scheduled pick-up; at most one is active.
    """

    name = models.SlugField(_("名前"), max_length=64, unique=True)
    description = models.CharField(_("説明"), max_length=200, blank=True)
    columns = models.JSONField(_("列対応"), default=dict, blank=True)
    splits = models.JSONField(_("分割する列"), default=dict, blank=True)
    active = models.BooleanField(_("定期取込に使う"), default=False)

    class Meta:
        verbose_name = _("列対応")
        verbose_name_plural = _("列対応")
        constraints = [
            models.UniqueConstraint(
                fields=["active"], condition=models.Q(active=True), name="one_active_mapping"
            )
        ]

    def __str__(self) -> str:
        return self.name


class Repertoire(models.TextChoices):
    MJ = "mj", _("MJ+（UTF-8、そのまま）")
    JISX0213 = "jisx0213", _("JIS X 0213まで（縮退列と置換報告を追加）")


class ExportDestination(models.Model):
    """Where a kind of outbound CSV goes, and how it is written (domain.md §4). The destination with no kinds takes
    every kind no other destination names; with none configured, ``core`` under ``OUTBOUND_PREFIX`` is made."""

    code = models.SlugField(_("コード"), max_length=32, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    prefix = models.CharField(_("出力先プレフィックス"), max_length=200, unique=True)
    bom = models.BooleanField(_("BOM付きUTF-8"), default=False)
    repertoire = models.CharField(
        _("文字の範囲"), max_length=16, choices=Repertoire.choices, default=Repertoire.MJ
    )
    # JIS X 0213 destinations: the columns that get a degraded twin (「<列名>_JIS」). A character outside JIS X 0213
    # in any other column is refused, since there would be nowhere to put its substitute.
    degraded_columns = models.JSONField(_("縮退列を付ける列"), default=list, blank=True)
    kinds = models.JSONField(_("様式"), default=list, blank=True)
    active = models.BooleanField(_("有効"), default=True)
    # The id of the last item bound to a batch of this destination: its later items are waiting for the next one.
    cut_through = models.BigIntegerField(default=0, editable=False)

    class Meta:
        verbose_name = _("出力先")
        verbose_name_plural = _("出力先")

    def __str__(self) -> str:
        return self.name


class ExportBatch(models.Model):
    """One flush to one destination: a CSV per kind and layout, the receptions' PDFs and, written last, the
    manifest. Its name (date and sequence) and so every key is fixed when the batch is formed, so a retried or
    re-sent flush rewrites the same objects and a robot that waits for the manifest never sees half a batch."""

    destination = models.ForeignKey(ExportDestination, on_delete=models.PROTECT, related_name="batches")
    day = models.DateField(_("日付"))
    seq = models.PositiveIntegerField(_("連番"))
    # Where its objects go, fixed when the batch forms: a destination's later prefix is for later batches.
    prefix = models.CharField(_("出力先"), max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)
    written_at = models.DateTimeField(_("出力日時"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("試行回数"), default=0)
    last_error = models.TextField(_("エラー"), blank=True)
    manifest_sha256 = models.CharField(max_length=64, blank=True)
    resend_requested = models.BooleanField(_("再送待ち"), default=False)
    result_read_at = models.DateTimeField(_("結果取込日時"), null=True, blank=True)
    result_counts = models.JSONField(_("結果"), default=dict, blank=True)
    result_error = models.TextField(_("結果ファイルのエラー"), blank=True)
    # The batch holds its destination's items with ids first_item_id … last_item_id: a range cut when the batch
    # forms (outbound._batches_form), so forming a batch rewrites no item.
    first_item_id = models.BigIntegerField(default=0)
    last_item_id = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("出力バッチ")
        verbose_name_plural = _("出力バッチ")
        constraints = [models.UniqueConstraint(fields=["destination", "day", "seq"], name="export_batch_seq")]
        indexes = [models.Index(fields=["destination", "last_item_id"], name="export_batch_range")]

    def __str__(self) -> str:
        return self.name

    @property
    def items(self) -> models.QuerySet[ExportItem]:
        """The items the batch holds (superseded revisions included)."""
        return ExportItem.objects.filter(
            destination_id=self.destination_id, pk__gte=self.first_item_id, pk__lte=self.last_item_id
        )

    @classmethod
    def holding(cls, item: ExportItem | None = None) -> models.QuerySet[ExportBatch]:
        """The batch that holds ``item`` (none while it waits); without an item, the batch of an outer query's
        item, for ``Subquery(ExportBatch.holding().values(...)[:1])``."""
        destination: Any = OuterRef("destination_id") if item is None else item.destination_id
        pk: Any = OuterRef("pk") if item is None else item.pk
        return cls.objects.filter(destination_id=destination, first_item_id__lte=pk, last_item_id__gte=pk)

    @property
    def name(self) -> str:
        return f"{self.day:%Y%m%d}-{self.seq:04d}"

    @property
    def manifest_key(self) -> str:
        return f"{self.prefix}{self.name}.manifest.json"

    @property
    def result_key(self) -> str:
        return f"{self.prefix}{self.name}.result.csv"

    @property
    def result_report_key(self) -> str:
        return f"{self.prefix}{self.name}.result-report.csv"


class ExportDocument(models.Model):
    """A reception's PDF (the printed packet), kept for the outbox until its batch is acknowledged."""

    reception_no = models.CharField(_("受付番号"), max_length=64, unique=True)
    pdf = models.FileField(upload_to="outbox/%Y/%m/%d/")
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("出力PDF")
        verbose_name_plural = _("出力PDF")

    def __str__(self) -> str:
        return self.reception_no


class ExportStatus(models.TextChoices):
    PENDING = "pending", _("出力待ち")
    # Shown, never stored: a pending item whose batch is written (ExportItem.state) — so writing a batch of
    # thousands of rows rewrites none of them.
    SENT = "sent", _("出力済")
    OK = "ok", _("取込済")
    NG = "ng", _("取込エラー")
    SUPERSEDED = "superseded", _("再出力済")


class ExportItem(models.Model):
    """One reception's rows of one layout in the outbox (a 住民異動届 has a row per person moving).

    (kind, reception_no, revision) is unique: an export never
    doubles; a corrected row is a new revision and supersedes the one the core system refused.

    ``secrets`` holds the values that may be stored only encrypted (the individual number), sealed, keyed by
    row and column; ``rows`` hold "" in their place. They are unsealed only to write the file, and purged when the
    core system acknowledges the row or the retention period ends."""

    kind = models.CharField(_("様式"), max_length=64)
    reception_no = models.CharField(_("受付番号"), max_length=64)
    revision = models.PositiveIntegerField(_("版"), default=1)
    layout = models.CharField(_("レイアウト"), max_length=80, blank=True)
    header = models.JSONField()
    rows = models.JSONField()
    # The rows as the file holds them (CSV, CRLF, no header), encoded once when they are put; "" for rows with
    # sealed values, which are encoded when the file is written. A JIS X 0213 destination encodes from ``rows``.
    csv = models.TextField(blank=True)
    row_count = models.PositiveIntegerField(default=0)
    secrets = models.TextField(blank=True)
    # The indexes of the columns whose values are only ever stored sealed (e.g. 個人番号), sealed or not.
    sealed_columns = models.JSONField(default=list, blank=True)
    # When the secrets were first sealed (carried over by corrections): the retention period runs from here.
    sealed_at = models.DateTimeField(null=True, blank=True)
    secrets_purged_at = models.DateTimeField(null=True, blank=True)
    destination = models.ForeignKey(
        ExportDestination, on_delete=models.PROTECT, related_name="items", db_index=False
    )
    status = models.CharField(
        _("状態"), max_length=16, choices=ExportStatus.choices, default=ExportStatus.PENDING
    )
    message = models.CharField(_("メッセージ"), max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    acknowledged_at = models.DateTimeField(_("結果日時"), null=True, blank=True)

    class Meta:
        verbose_name = _("出力行")
        verbose_name_plural = _("出力行")
        constraints = [
            models.UniqueConstraint(fields=["kind", "reception_no", "revision"], name="export_item_once")
        ]
        # Few indexes, each for a query that needs it: every one is written again for each row a finish puts.
        indexes = [
            models.Index(fields=["destination", "id"], name="export_item_destination"),  # batches' ranges
            models.Index(fields=["reception_no"], name="export_item_reception"),
            models.Index(fields=["id"], condition=models.Q(status="ng"), name="export_item_refused"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.reception_no}#{self.revision}"

    @cached_property
    def batch(self) -> ExportBatch | None:
        """The batch that holds the item; None while it waits for the next flush."""
        return ExportBatch.holding(self).first()

    @property
    def state(self) -> str:
        """The status as people see it: a pending item of a written batch is 出力済 (ExportStatus.SENT)."""
        return shown_status(self.status, written=self.batch is not None and self.batch.written_at is not None)

    def get_state_display(self) -> str:
        return str(ExportStatus(self.state).label)


def shown_status(status: str, *, written: bool) -> str:
    """An item's status as people see it, given whether the batch holding it is written."""
    return ExportStatus.SENT if status == ExportStatus.PENDING and written else status
