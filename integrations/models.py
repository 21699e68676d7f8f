"""The resident mirror (the core system's 住民記録 data), the import ledger, and the outbound outbox."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Household(models.Model):
    """世帯: one household of the core system."""

    setai_no = models.CharField(_("世帯番号"), max_length=20, unique=True)

    class Meta:
        verbose_name = _("世帯")
        verbose_name_plural = _("世帯")

    def __str__(self) -> str:
        return self.setai_no


class Resident(models.Model):
    """One person of the 住民記録 mirror, field for field from the canonical 住民記録 v1 layout.

    Names and addresses are stored byte-exact as received (MJ+); ``kana_key`` is the derived search key.
    """

    atena_no = models.CharField(_("宛名番号"), max_length=20, unique=True)
    household = models.ForeignKey(Household, on_delete=models.CASCADE, related_name="members")
    juminhyo_code = models.CharField(_("住民票コード"), max_length=11, blank=True)
    juumin_shubetsu = models.CharField(_("住民種別"), max_length=1)
    juumin_jotai = models.CharField(_("住民状態"), max_length=1)
    shi = models.CharField(_("氏"), max_length=100, blank=True)
    mei = models.CharField(_("名"), max_length=100, blank=True)
    shi_kana = models.CharField(_("氏カナ"), max_length=100, blank=True)
    mei_kana = models.CharField(_("名カナ"), max_length=100, blank=True)
    eiji_shimei = models.CharField(_("英字氏名"), max_length=200, blank=True)
    kyuuji = models.CharField(_("旧氏"), max_length=100, blank=True)
    kyuuji_kana = models.CharField(_("旧氏カナ"), max_length=100, blank=True)
    tsuushou = models.CharField(_("通称"), max_length=100, blank=True)
    tsuushou_kana = models.CharField(_("通称カナ"), max_length=100, blank=True)
    birth_date = models.DateField(_("生年月日"))
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
    kana_key = models.CharField(_("カナ検索キー"), max_length=200, db_index=True)

    class Meta:
        verbose_name = _("住民")
        verbose_name_plural = _("住民")
        ordering = ["atena_no"]

    def __str__(self) -> str:
        # Never a name: this string ends up in logs and admin history.
        return self.atena_no


class ImportStatus(models.TextChoices):
    RUNNING = "running", _("取込中")
    APPLIED = "applied", _("反映済")
    REJECTED = "rejected", _("却下")
    FAILED = "failed", _("取込失敗")


class ImportRun(models.Model):
    """Ledger of inbound files: which file, its checksum, what happened and how long it took."""

    source = models.CharField(_("ファイル"), max_length=500)
    sha256 = models.CharField(max_length=64)
    status = models.CharField(_("状態"), max_length=16, choices=ImportStatus.choices)
    rows = models.PositiveIntegerField(_("件数"), default=0)
    error_count = models.PositiveIntegerField(_("エラー件数"), default=0)
    errors = models.JSONField(_("エラー"), default=list, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("取込履歴")
        verbose_name_plural = _("取込履歴")
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.source} ({self.status})"


class ExportBatch(models.Model):
    """One outbound file. Its key is fixed when the batch is formed, so a retried flush rewrites the same object."""

    kind = models.CharField(_("様式"), max_length=64)
    object_key = models.CharField(max_length=500, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    written_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        verbose_name = _("出力バッチ")
        verbose_name_plural = _("出力バッチ")

    def __str__(self) -> str:
        return self.object_key


class ExportItem(models.Model):
    """One reception's row waiting in the outbox. (kind, reception_no) is unique: an export never doubles."""

    kind = models.CharField(_("様式"), max_length=64)
    reception_no = models.CharField(_("受付番号"), max_length=32)
    header = models.JSONField()
    row = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    batch = models.ForeignKey(
        ExportBatch, null=True, blank=True, on_delete=models.PROTECT, related_name="items"
    )

    class Meta:
        verbose_name = _("出力待ち")
        verbose_name_plural = _("出力待ち")
        constraints = [models.UniqueConstraint(fields=["kind", "reception_no"], name="export_item_once")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.reception_no}"
