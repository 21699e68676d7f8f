"""Counters, tickets and the counter sessions that follow one visit (R-C1, R-C2); life events, questions,
procedures and the rules that pick them (R-C3); resident tablets paired to a counter (R-C5)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class CounterGroup(models.Model):
    """Counters that share one ticket queue (e.g. 市民課 窓口 1–4): a ticket is called by whichever is free."""

    code = models.SlugField(_("窓口グループコード"), max_length=32, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    ticket_prefix = models.CharField(_("番号札の記号"), max_length=4, blank=True)
    ticket_terminal = models.ForeignKey(
        "devices.Terminal",
        verbose_name=_("番号札を印刷する端末"),
        help_text=_("発券のたびに、この端末のレシートプリンタで番号札を印刷します。空欄なら印刷しません。"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="ticket_groups",
    )

    class Meta:
        verbose_name = _("窓口グループ")
        verbose_name_plural = _("窓口グループ")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Counter(models.Model):
    """A counter (窓口) of a department, with the terminal (counter PC) that drives its devices."""

    code = models.SlugField(_("窓口コード"), max_length=32, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    department = models.CharField(_("所属"), max_length=100, blank=True)
    location = models.CharField(_("場所"), max_length=100, blank=True)
    group = models.ForeignKey(
        CounterGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="counters"
    )
    terminal = models.ForeignKey("devices.Terminal", null=True, blank=True, on_delete=models.SET_NULL)
    # A short-lived code a tablet types (or scans) once to pair with this counter; stored hashed.
    pairing_code_hash = models.CharField(max_length=64, blank=True)
    pairing_code_expires_at = models.DateTimeField(null=True, blank=True)
    pairing_failures = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("窓口")
        verbose_name_plural = _("窓口")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class TicketStatus(models.TextChoices):
    WAITING = "waiting", _("待ち")
    CALLED = "called", _("呼出済")
    ABSENT = "absent", _("不在")


class Ticket(models.Model):
    """A numbered ticket (番号札) of a counter group, numbered from 1 each day."""

    group = models.ForeignKey(CounterGroup, on_delete=models.PROTECT, related_name="tickets")
    day = models.DateField(_("日付"))
    number = models.PositiveIntegerField(_("番号"))
    status = models.CharField(
        _("状態"), max_length=16, choices=TicketStatus.choices, default=TicketStatus.WAITING
    )
    issued_at = models.DateTimeField(_("発券日時"), auto_now_add=True)
    called_at = models.DateTimeField(_("呼出日時"), null=True, blank=True)
    called_to = models.ForeignKey(Counter, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        verbose_name = _("番号札")
        verbose_name_plural = _("番号札")
        ordering = ["day", "number"]
        constraints = [models.UniqueConstraint(fields=["group", "day", "number"], name="ticket_number_once")]
        indexes = [models.Index(fields=["group", "day", "status"])]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        return f"{self.group.ticket_prefix}{self.number:03d}"


class SessionState(models.TextChoices):
    """The counter visit's steps (product.md, "The counter visit"), and 差戻し."""

    RECEPTION = "reception", _("受付")
    IDENTIFIED = "identified", _("本人確認")
    INTERVIEW = "interview", _("聞き取り")
    FORMS = "forms", _("申請書作成")
    CONFIRMING = "confirming", _("住民確認")
    OUTPUT = "output", _("出力")
    FINISHED = "finished", _("完了")
    RETURNED = "returned", _("差戻し")


class Progress(models.TextChoices):
    """A reception's progress as supervisors follow it (R-C7), through the handoff to the core system."""

    RECEIVED = "received", _("受付")
    CONFIRMED = "confirmed", _("確認済")
    OUTPUT = "output", _("出力済")
    LINKED = "linked", _("連携済")
    DONE = "done", _("完了")
    RETURNED = "returned", _("差戻し")


class CounterSession(models.Model):
    """One visit at a counter, from reception to finish. ``reception_no`` (受付番号) names it everywhere.

    ``clerk`` is the one clerk working the session now (empty while it waits, e.g. after a handoff);
    ``version`` counts every change, so a tablet or browser posting an old version is told it is stale.
    """

    counter = models.ForeignKey(Counter, on_delete=models.PROTECT, related_name="sessions")
    clerk = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    ticket = models.OneToOneField(
        Ticket, null=True, blank=True, on_delete=models.SET_NULL, related_name="session"
    )
    # YYYYMMDD-<counter code (≤ 32)>-NNNN
    reception_no = models.CharField(_("受付番号"), max_length=64, unique=True)
    state = models.CharField(
        _("状態"), max_length=16, choices=SessionState.choices, default=SessionState.RECEPTION
    )
    progress = models.CharField(
        _("進捗"), max_length=16, choices=Progress.choices, default=Progress.RECEIVED, db_index=True
    )
    version = models.PositiveIntegerField(default=1)
    atena_no = models.CharField(_("宛名番号"), max_length=20, blank=True)
    # Card data for the visit (basic 4 items; never the individual number), and how the person was identified.
    card = models.JSONField(_("カード情報"), default=dict, blank=True)
    # The individual number read from a My Number card, sealed (madoguchi.fieldcrypt), only until the output
    # hands it to the outbox (the 個人番号カード券面事項 layout) or the session is wiped (R-I4).
    card_secret = models.TextField(blank=True)
    identified_by = models.CharField(_("本人確認の方法"), max_length=16, blank=True)
    life_events = models.JSONField(_("ライフイベント"), default=list, blank=True)
    answers = models.JSONField(_("聞き取り"), default=dict, blank=True)
    # The procedures worked out for the visit (手続ナビ), as shown and printed on the 手続案内書.
    procedures = models.JSONField(_("手続"), default=list, blank=True)
    language = models.CharField(_("表示言語"), max_length=8, default="ja")
    signature = models.TextField(_("署名"), blank=True)
    return_reason = models.CharField(_("差戻し理由"), max_length=300, blank=True)
    form_code = models.CharField(_("様式"), max_length=64, blank=True)
    form_version = models.PositiveIntegerField(_("様式の版"), null=True, blank=True)
    print_job = models.ForeignKey("devices.PrintJob", null=True, blank=True, on_delete=models.SET_NULL)
    opened_at = models.DateTimeField(_("受付日時"), auto_now_add=True, db_index=True)
    state_changed_at = models.DateTimeField(_("状態変更日時"), null=True, blank=True)
    identified_at = models.DateTimeField(_("本人確認日時"), null=True, blank=True)
    confirmed_at = models.DateTimeField(_("住民確認日時"), null=True, blank=True)
    finished_at = models.DateTimeField(_("完了日時"), null=True, blank=True)
    linked_at = models.DateTimeField(_("連携日時"), null=True, blank=True)
    # When the retention job erased what the session held of the resident (services.sessions_erase): the row stays
    # for the statistics, without 宛名番号, answers, form contents or signature.
    erased_at = models.DateTimeField(_("個人情報消去日時"), null=True, blank=True)

    class Meta:
        verbose_name = _("窓口セッション")
        verbose_name_plural = _("窓口セッション")
        ordering = ["-opened_at"]
        indexes = [models.Index(fields=["counter", "state"])]

    def __str__(self) -> str:
        return self.reception_no


class SessionEvent(models.Model):
    """The session's timeline: every state change, claim, handoff, card read and tablet action, time-stamped.
    ``detail`` never holds names, addresses or numbers."""

    session = models.ForeignKey(CounterSession, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(_("日時"), auto_now_add=True)
    kind = models.CharField(_("種別"), max_length=16)
    state = models.CharField(_("状態"), max_length=16, choices=SessionState.choices)
    counter = models.ForeignKey(Counter, on_delete=models.PROTECT)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("窓口セッションの経過")
        verbose_name_plural = _("窓口セッションの経過")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.session_id} {self.kind} {self.state}"


class SessionForm(models.Model):
    """A form of the visit: the version it uses and its values, prefilled then corrected by the clerk."""

    session = models.ForeignKey(CounterSession, on_delete=models.CASCADE, related_name="forms")
    form_code = models.CharField(_("様式"), max_length=64)
    form_version = models.PositiveIntegerField(_("様式の版"))
    name = models.CharField(_("様式名"), max_length=200)
    signing = models.CharField(_("署名方法"), max_length=16)
    order = models.PositiveIntegerField(default=0)
    data = models.JSONField(_("記入内容"), default=dict, blank=True)
    prefilled = models.PositiveIntegerField(_("自動記入した項目数"), default=0)
    edited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("申請書")
        verbose_name_plural = _("申請書")
        ordering = ["order", "id"]
        constraints = [models.UniqueConstraint(fields=["session", "form_code"], name="session_form_once")]

    def __str__(self) -> str:
        return f"{self.session_id}:{self.form_code}"


class LifeEvent(models.Model):
    """A life event a visit is about (転入, 出生 …), chosen in the interview."""

    code = models.SlugField(_("コード"), max_length=32, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    order = models.PositiveIntegerField(_("表示順"), default=0)
    active = models.BooleanField(_("使用中"), default=True)
    translations = models.JSONField(_("翻訳"), default=dict, blank=True)

    class Meta:
        verbose_name = _("ライフイベント")
        verbose_name_plural = _("ライフイベント")
        ordering = ["order", "code"]

    def __str__(self) -> str:
        return self.name


class QuestionKind(models.TextChoices):
    YESNO = "yesno", _("はい・いいえ")
    CHOICE = "choice", _("選択")
    NUMBER = "number", _("数")
    TEXT = "text", _("文字")


class Question(models.Model):
    """An interview question, asked for the life events it belongs to; its answer is ``answers.<code>``."""

    code = models.SlugField(_("コード"), max_length=32, unique=True)
    text = models.CharField(_("質問"), max_length=200)
    help = models.CharField(_("説明"), max_length=300, blank=True)
    kind = models.CharField(_("回答の種類"), max_length=16, choices=QuestionKind.choices)
    choices = models.JSONField(_("選択肢"), default=list, blank=True)
    life_events = models.ManyToManyField(
        LifeEvent, related_name="questions", verbose_name=_("ライフイベント")
    )
    order = models.PositiveIntegerField(_("表示順"), default=0)

    class Meta:
        verbose_name = _("聞き取り項目")
        verbose_name_plural = _("聞き取り項目")
        ordering = ["order", "code"]

    def __str__(self) -> str:
        return self.text


class Procedure(models.Model):
    """A procedure (手続) a visit may need: where it is done, what to bring, the forms it fills."""

    code = models.SlugField(_("コード"), max_length=32, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    department = models.CharField(_("担当課"), max_length=100, blank=True)
    counter_group = models.ForeignKey(
        CounterGroup, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("窓口グループ")
    )
    bring = models.TextField(_("持ち物"), blank=True)
    note = models.TextField(_("案内"), blank=True)
    forms = models.JSONField(_("様式"), default=list, blank=True)
    order = models.PositiveIntegerField(_("表示順"), default=0)
    active = models.BooleanField(_("使用中"), default=True)

    class Meta:
        verbose_name = _("手続")
        verbose_name_plural = _("手続")
        ordering = ["order", "code"]

    def __str__(self) -> str:
        return self.name


class ProcedureRule(models.Model):
    """The procedure applies when the visit is about one of ``life_events`` and every condition holds.

    A condition is a binding over the form context (docs/forms.md §2) read as true or false, e.g.
    ``household|age_under(15)|count`` (a child under 15) or ``answers.kokuho|eq('yes')``.
    """

    procedure = models.ForeignKey(Procedure, on_delete=models.CASCADE, related_name="rules")
    life_events = models.ManyToManyField(LifeEvent, related_name="rules", verbose_name=_("ライフイベント"))
    conditions = models.JSONField(_("条件"), default=list, blank=True)
    description = models.CharField(_("説明"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("手続の規則")
        verbose_name_plural = _("手続の規則")

    def __str__(self) -> str:
        return self.description or f"{self.procedure}"


class TabletPairing(models.Model):
    """A resident tablet paired to one counter. The tablet holds the token in a cookie; only its hash is kept."""

    counter = models.ForeignKey(Counter, on_delete=models.CASCADE, related_name="tablets")
    token_hash = models.CharField(max_length=64, unique=True)
    label = models.CharField(_("名称"), max_length=100, blank=True)
    paired_at = models.DateTimeField(_("ペアリング日時"), auto_now_add=True)
    paired_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT)
    revoked_at = models.DateTimeField(_("解除日時"), null=True, blank=True)
    last_seen_at = models.DateTimeField(_("最終通信"), null=True, blank=True)

    class Meta:
        verbose_name = _("タブレット")
        verbose_name_plural = _("タブレット")

    def __str__(self) -> str:
        return f"{self.counter.code} tablet {self.pk}"
