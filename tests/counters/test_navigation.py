"""手続ナビ (R-C3): the seed, the rules deciding a visit's procedures, the editor's services and its pages (with
the 試算 panel), through the real database and Django's test client."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from counters import navigation as nav
from counters.models import CounterGroup, LifeEvent, Procedure, ProcedureRule, Question
from forms_engine.models import FormTemplate
from forms_engine.schema import TRANSLATION_LANGUAGES
from forms_engine.selectors import form_sample_context
from madoguchi.accounts.models import User
from madoguchi.audit.models import AuditAction, AuditEvent
from tests.factories import UserFactory, atena

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 11, 21)
SEED_EVENTS = {"tennyu", "tenshutsu", "tenkyo", "shussei", "shibou", "konin", "rikon", "shomei"}


def person(born: dt.date | str, zokugara: str = "世帯主", **values: Any) -> dict[str, Any]:
    return {"shimei": "窓口　太郎", "birth_date": born, "zokugara": zokugara, "foreign": False, **values}


def visit(*household: dict[str, Any], **answers: Any) -> dict[str, Any]:
    """A form context as counters builds it: the first person is the resident."""
    return {
        "city": {"name": "窓口市"},
        "today": TODAY,
        "session": {
            "reception_no": "20261121-c1-0001",
            "event": "",
            "counter": "c1",
            "counter_name": "",
            "clerk": "",
        },
        "resident": household[0],
        "household": list(household),
        "card": {},
        "answers": answers,
        "procedures": [],
    }


def codes(procedures: list[dict[str, Any]]) -> list[str]:
    return [procedure["code"] for procedure in procedures]


def decide(events: list[str], context: dict[str, Any]) -> list[str]:
    return codes(nav.procedures_decide(life_events=events, context=context))


def navigation_audits() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(target_type="navigation").exclude(target_ref="seed").order_by("id"))


# --- the seed --------------------------------------------------------------------------------------------------


def test_the_seed_loads_every_condition_validates_and_every_form_is_in_the_starter_pack(navigation) -> None:
    assert navigation == {
        "counter_groups": 4,
        "life_events": 8,
        "questions": 6,
        "procedures": 11,
        "rules": 22,
    }
    assert set(LifeEvent.objects.values_list("code", flat=True)) == SEED_EVENTS
    for event in LifeEvent.objects.all():
        assert set(event.translations) == set(TRANSLATION_LANGUAGES), event.code
        assert all(isinstance(name, str) and name for name in event.translations.values())
    assert dict(CounterGroup.objects.values_list("code", "ticket_prefix")) == {
        "shimin": "A",
        "hoken": "B",
        "kodomo": "C",
        "kaigo": "D",
    }
    starter = set(FormTemplate.objects.values_list("code", flat=True))
    used = set()
    for procedure in Procedure.objects.all():
        assert procedure.forms and set(procedure.forms) <= starter, procedure.code
        assert procedure.counter_group is not None and procedure.bring, procedure.code
        assert procedure.rules.exists(), procedure.code
        used |= set(procedure.forms)
    assert used == starter - {
        "tetsuzuki_annai"
    }  # the guidance sheet is printed for every visit, no procedure
    for rule in ProcedureRule.objects.all():
        assert rule.life_events.exists() and rule.description
        assert all(nav.condition_check(text) is None for text in rule.conditions), rule.conditions
    certificate = Question.objects.get(code="certificate")
    assert [choice["value"] for choice in certificate.choices] == ["juminhyo", "inkan", "koseki"]
    assert nav.procedure_forms_missing() == {}
    assert AuditEvent.objects.filter(target_type="navigation", target_ref="seed").count() == 1


def test_loading_the_seed_again_changes_nothing_and_keeps_a_citys_edits(navigation) -> None:
    actor = UserFactory.create(roles=["form_admin"])
    jido = Procedure.objects.get(code="jido_teate")
    nav.procedure_update(
        procedure=jido,
        name="児童手当（市の名称）",
        department="子育て支援課",
        forms=["jido_teate"],
        actor=actor,
    )
    nav.rule_delete(rule=jido.rules.get(life_events__code="rikon"), actor=actor)
    nav.life_event_delete(event=LifeEvent.objects.get(code="konin"), actor=actor)
    counts = (LifeEvent.objects.count(), Question.objects.count(), Procedure.objects.count())
    rules = ProcedureRule.objects.count()

    again = nav.navigation_seed_load()

    assert again.pop("life_events") == 1  # a deleted row is missing by code: the seed brings it back
    assert set(again.values()) == {0}
    assert (LifeEvent.objects.count() - 1, Question.objects.count(), Procedure.objects.count()) == counts
    assert ProcedureRule.objects.count() == rules  # a procedure that has rules keeps exactly its own
    jido.refresh_from_db()
    assert (jido.name, jido.department) == ("児童手当（市の名称）", "子育て支援課")
    assert not jido.rules.filter(life_events__code="rikon").exists()
    assert nav.navigation_seed_load() == dict.fromkeys(again, 0) | {"life_events": 0}


def test_a_seed_with_an_invalid_condition_is_refused_as_a_whole(tmp_path, starter_forms) -> None:
    seed = tmp_path / "nav.json"
    seed.write_text(
        '{"life_events": [{"code": "tennyu", "name": "転入"}], "procedures": [{"code": "juminido", "name": "x",'
        ' "forms": ["juminido"], "rules": [{"life_events": ["tennyu"], "conditions": ["resident.password"]}]}]}',
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=r"resident\.password"):
        nav.navigation_seed_load(path=seed)
    assert not LifeEvent.objects.exists() and not Procedure.objects.exists()


# --- deciding the procedures -----------------------------------------------------------------------------------


def test_a_household_moving_in_with_a_ten_year_old_gets_the_child_benefits(navigation) -> None:
    context = visit(person(dt.date(1986, 4, 1)), person(dt.date(2016, 5, 5), "子"))
    procedures = nav.procedures_decide(life_events=["tennyu"], context=context)
    assert codes(procedures) == ["juminido", "jido_teate", "kodomo_iryo"]
    jido = procedures[1]
    assert jido == {
        "code": "jido_teate",
        "name": "児童手当の認定請求",
        "department": "こども課",
        "counter_group": "kodomo",
        "counter_group_name": "こども課",
        "bring": jido["bring"],
        "note": jido["note"],
        "forms": ["jido_teate"],
        "because": ["世帯に15歳未満の子どもがいる転入"],
    }
    assert "預金通帳" in jido["bring"]


def test_a_household_moving_in_with_an_eighty_year_old_gets_the_elderly_procedures(navigation) -> None:
    context = visit(person(dt.date(1970, 1, 1)), person(dt.date(1946, 3, 3), "母"))
    assert decide(["tennyu"], context) == ["juminido", "koki_koreisha", "kaigo_hoken"]


def test_a_single_thirty_year_old_moving_in_needs_only_the_moving_notice(navigation) -> None:
    context = visit(person(dt.date(1996, 7, 7)))
    assert decide(["tennyu"], context) == ["juminido"]
    assert decide(["tenkyo"], context) == ["juminido"]


def test_the_answers_switch_health_insurance_pension_and_the_seal(navigation) -> None:
    single = person(dt.date(1996, 7, 7))
    assert decide(["tennyu"], visit(single, kokuho="yes", inkan="yes")) == [
        "juminido",
        "inkan_toroku",
        "kokuho",
    ]
    assert decide(["tennyu"], visit(single, kokuho="no", inkan="no", nenkin="yes")) == [
        "juminido",
        "kokumin_nenkin",
    ]
    assert decide(["konin"], visit(single, kokuho="no", nenkin="no", inkan="no")) == []
    assert decide(["konin"], visit(single, kokuho="yes", inkan="yes")) == ["inkan_toroku", "kokuho"]


def test_birth_death_and_divorce(navigation) -> None:
    parent, baby = person(dt.date(1990, 1, 1)), person(dt.date(2026, 11, 1), "子")
    assert decide(["shussei"], visit(parent, baby)) == ["jido_teate", "kodomo_iryo"]
    assert decide(["shussei"], visit(parent, baby, kokuho="yes")) == ["kokuho", "jido_teate", "kodomo_iryo"]
    grandfather = person(dt.date(1940, 1, 1))
    assert decide(["shibou"], visit(grandfather, kokuho="no")) == ["koki_koreisha", "kaigo_hoken"]
    sixty_eight = person(dt.date(1958, 1, 1))
    assert decide(["shibou"], visit(sixty_eight, kokuho="yes")) == ["kokuho", "kaigo_hoken"]
    child = person(dt.date(2018, 1, 1), "子")
    assert decide(["rikon"], visit(parent, child)) == ["jido_teate", "kodomo_iryo"]
    assert decide(["rikon"], visit(parent)) == []


def test_a_certificate_gives_only_its_own_request_form(navigation) -> None:
    context = visit(*form_sample_context(today=TODAY)["household"], certificate="juminhyo", copies=2)
    procedures = nav.procedures_decide(life_events=["shomei"], context=context)
    assert [(p["code"], p["forms"]) for p in procedures] == [("juminhyo", ["juminhyo_seikyu"])]
    assert decide(["shomei"], visit(person(dt.date(1990, 1, 1)), certificate="koseki")) == ["koseki"]
    assert decide(["shomei"], visit(person(dt.date(1990, 1, 1)), certificate="inkan")) == ["inkan_shomei"]
    assert decide(["shomei"], visit(person(dt.date(1990, 1, 1)))) == []


def test_the_sample_household_moving_in_and_several_events_at_once(navigation) -> None:
    context = form_sample_context(today=TODAY) | {"answers": {"kokuho": "yes"}}
    assert decide(["tennyu"], context) == [
        "juminido",
        "kokuho",
        "koki_koreisha",
        "kaigo_hoken",
        "jido_teate",
        "kodomo_iryo",
    ]
    # 転入 and 婚姻 together: 国保 matched by two rules appears once, with both reasons.
    procedures = nav.procedures_decide(life_events=["tennyu", "konin"], context=context)
    kokuho = [p for p in procedures if p["code"] == "kokuho"]
    assert len(kokuho) == 1
    assert kokuho[0]["because"] == [
        "国民健康保険の人の住所異動",
        "婚姻・離婚で国民健康保険の加入・脱退・世帯変更",
    ]
    assert nav.procedures_decide(life_events=[], context=context) == []


def test_dates_stored_as_text_in_a_session_read_the_same(navigation) -> None:
    context = visit(person("1986-04-01"), person("2016-05-05", "子")) | {"today": "2026-11-21"}
    assert decide(["tennyu"], context) == ["juminido", "jido_teate", "kodomo_iryo"]


def test_an_inactive_procedure_never_appears(navigation) -> None:
    Procedure.objects.filter(code="jido_teate").update(active=False)
    context = visit(person(dt.date(1986, 4, 1)), person(dt.date(2016, 5, 5), "子"))
    assert decide(["tennyu"], context) == ["juminido", "kodomo_iryo"]


def test_a_condition_that_fails_to_evaluate_is_false_and_logged_without_personal_data(
    navigation, caplog
) -> None:
    actor = UserFactory.create(roles=["form_admin"])
    condition = "household|age_under('fifteen')|count"  # reads fine, fails when the age is compared
    assert nav.condition_check(condition) is None
    nav.rule_create(
        procedure=Procedure.objects.get(code="kokuho"),
        life_events=["tennyu"],
        conditions=[condition],
        actor=actor,
    )
    context = visit(person(dt.date(1996, 7, 7), shimei="秘密　花子"))
    with caplog.at_level(logging.WARNING, logger="counters.navigation"):
        assert decide(["tennyu"], context) == ["juminido"]
    assert "age_under('fifteen')" in caplog.text and "ValueError" in caplog.text
    assert "秘密" not in caplog.text and "1996" not in caplog.text


def test_the_questions_of_the_chosen_events_each_once_in_order(navigation) -> None:
    assert [q.code for q in nav.questions_for(life_events=["tennyu"])] == [
        "setai",
        "kokuho",
        "nenkin",
        "inkan",
    ]
    assert [q.code for q in nav.questions_for(life_events=["tennyu", "konin", "shomei"])] == [
        "setai",
        "kokuho",
        "nenkin",
        "inkan",
        "certificate",
        "copies",
    ]
    assert nav.questions_for(life_events=[]) == []
    LifeEvent.objects.filter(code="rikon").update(active=False)
    assert "rikon" not in {event.code for event in nav.life_events_active()}
    assert [event.code for event in nav.life_events_active()][:3] == ["tennyu", "tenshutsu", "tenkyo"]


# --- conditions and the services -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "household|age_under(15)|count",
        "household|age_at_least(75)|count",
        "answers.kokuho|eq('yes')",
        "answers.anything_at_all",
        "resident.foreign",
        "resident.sex|eq('女')",
        "today",
        "session.counter|eq('c1')",
    ],
)
def test_conditions_that_read_the_context_are_accepted(text: str) -> None:
    assert nav.condition_check(text) is None


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "条件が空です"),
        ("resident.password", "a person has no 'password'"),
        ("household|age_under:15|count", "括弧で書きます"),
        ("household|upper", "unknown filter 'upper'"),
        ("procedures.0.name", "条件で読めるのは"),
        ("fields.shimei", "条件で読めるのは"),
        ("settings.SECRET_KEY", "unknown name 'settings'"),
        ("answers.kokuho|eq('yes'", "is not a filter"),
    ],
)
def test_conditions_that_cannot_be_read_are_refused_with_a_message(text: str, says: str) -> None:
    problem = nav.condition_check(text)
    assert problem is not None and says in problem


def test_a_bare_yes_no_answer_is_refused_because_no_reads_as_true(navigation) -> None:
    problem = nav.condition_check("answers.kokuho")
    assert problem is not None and "answers.kokuho|eq('yes')" in problem
    assert nav.condition_check("answers.copies") is None  # a number: its value is what counts


def test_every_change_of_the_editor_is_audited_with_its_before_and_after(navigation) -> None:
    actor = UserFactory.create(roles=["form_admin"])
    event = nav.life_event_create(
        code="kaigo_nintei",
        name="介護認定",
        order=90,
        translations={"en": "Care needs", "ko": " "},
        actor=actor,
    )
    assert event.translations == {"en": "Care needs"}
    nav.life_event_update(event=event, name="要介護認定", order=90, active=True, translations={}, actor=actor)
    question = nav.question_create(
        code="kaigo",
        text="要介護認定を受けていますか",
        kind="yesno",
        life_events=["kaigo_nintei"],
        actor=actor,
    )
    nav.question_update(
        question=question,
        text="要介護・要支援の認定を受けていますか",
        kind="yesno",
        life_events=["kaigo_nintei", "tennyu"],
        actor=actor,
    )
    procedure = nav.procedure_create(
        code="kaigo_nintei",
        name="要介護認定の申請",
        counter_group="kaigo",
        forms=["kaigo_hoken"],
        actor=actor,
    )
    rule = nav.rule_create(
        procedure=procedure,
        life_events=["kaigo_nintei"],
        conditions=["household|age_at_least(65)|count", ""],
        description="65歳以上",
        actor=actor,
    )
    assert rule.conditions == ["household|age_at_least(65)|count"]
    rule_pk = rule.pk
    nav.rule_update(rule=rule, life_events=["kaigo_nintei", "tennyu"], conditions=[], actor=actor)
    nav.rule_delete(rule=rule, actor=actor)
    nav.procedure_delete(procedure=procedure, actor=actor)
    nav.question_delete(question=question, actor=actor)
    nav.life_event_delete(event=event, actor=actor)

    audits = navigation_audits()
    assert [(a.detail["kind"], a.detail["change"]) for a in audits] == [
        ("life_event", "create"),
        ("life_event", "update"),
        ("question", "create"),
        ("question", "update"),
        ("procedure", "create"),
        ("rule", "create"),
        ("rule", "update"),
        ("rule", "delete"),
        ("procedure", "delete"),
        ("question", "delete"),
        ("life_event", "delete"),
    ]
    assert all(a.action == AuditAction.ADMIN and a.actor == actor for a in audits)
    assert audits[0].target_ref == "kaigo_nintei"
    assert audits[5].target_ref == f"kaigo_nintei#{rule_pk}"
    assert audits[6].detail["before"]["life_events"] == ["kaigo_nintei"]
    assert audits[6].detail["after"]["life_events"] == ["kaigo_nintei", "tennyu"]


@pytest.mark.parametrize(
    ("call", "says"),
    [
        (lambda a: nav.procedure_create(code="x", name="x", forms=["no_such_form"], actor=a), "no_such_form"),
        (lambda a: nav.procedure_create(code="x", name="x", counter_group="nowhere", actor=a), "nowhere"),
        (lambda a: nav.procedure_create(code="juminido", name="x", actor=a), "既にあります"),
        (lambda a: nav.procedure_create(code="Bad-Code", name="x", actor=a), "使えません"),
        (lambda a: nav.life_event_create(code="tennyu", name="x", actor=a), "既にあります"),
        (lambda a: nav.life_event_create(code="x", name="x", translations={"fr": "x"}, actor=a), "fr"),
        (lambda a: nav.question_create(code="x", text="x", kind="choice", actor=a), "選択肢"),
        (lambda a: nav.question_create(code="x", text="x", kind="yesno", life_events=["y"], actor=a), "y"),
        (
            lambda a: nav.rule_create(
                procedure=Procedure.objects.get(code="kokuho"),
                life_events=["tennyu"],
                conditions=["answers.kokuho|eq('yes')", "resident.password"],
                actor=a,
            ),
            "resident.password",
        ),
        (
            lambda a: nav.rule_create(
                procedure=Procedure.objects.get(code="kokuho"), life_events=[], actor=a
            ),
            "ライフイベント",
        ),
    ],
)
def test_invalid_changes_are_refused_with_a_message_and_change_nothing(navigation, call, says: str) -> None:
    actor = UserFactory.create(roles=["form_admin"])
    before = (LifeEvent.objects.count(), Question.objects.count(), Procedure.objects.count())
    rules = ProcedureRule.objects.count()
    with pytest.raises(nav.NavigationInvalid, match=None) as refused:
        call(actor)
    assert says in str(refused.value)
    assert (LifeEvent.objects.count(), Question.objects.count(), Procedure.objects.count()) == before
    assert ProcedureRule.objects.count() == rules
    assert navigation_audits() == []


# --- the editor in the browser ---------------------------------------------------------------------------------


@pytest.fixture
def form_admin(db: None) -> User:
    return UserFactory.create(roles=["form_admin"])


@pytest.fixture
def admin_client(form_admin: User) -> Client:
    client = Client()
    client.force_login(form_admin)
    return client


def test_the_editor_lists_events_questions_procedures_and_rules(navigation, admin_client: Client) -> None:
    response = admin_client.get(reverse("navigation:index"))
    assert response.status_code == 200
    page = response.content.decode()
    for text in (
        "転入",
        "児童手当の認定請求",
        "household|age_under(15)|count",
        "answers.certificate",
        "保険年金課",
    ):
        assert text in page
    assert reverse("navigation:index") == "/counters/navigation/"
    assert "手続ナビ設定" in admin_client.get(reverse("forms_engine:index")).content.decode()  # the nav link


@pytest.mark.parametrize("name", ["index", "trial", "event_create", "question_create", "procedure_create"])
def test_a_clerk_or_a_stranger_cannot_reach_the_editor(navigation, clerk_client: Client, name: str) -> None:
    url = reverse(f"navigation:{name}")
    response = Client().get(url)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert clerk_client.get(url).status_code == 403  # signed in, without the capability: refused
    response = clerk_client.post(reverse("navigation:rule_create"), {"procedure": "kokuho"})
    assert response.status_code == 403
    assert navigation_audits() == []


def test_a_clerk_cannot_delete(navigation, clerk_client: Client) -> None:
    response = clerk_client.post(reverse("navigation:procedure_delete", args=["juminido"]))
    assert response.status_code == 403
    assert Procedure.objects.filter(code="juminido").exists()


def test_a_form_admin_creates_a_rule(navigation, admin_client: Client, form_admin: User) -> None:
    page = admin_client.get(reverse("navigation:rule_create") + "?procedure=kokuho")
    assert page.status_code == 200
    assert "household|age_at_least(75)|count" in page.content.decode()  # the condition help with examples
    response = admin_client.post(
        reverse("navigation:rule_create"),
        {
            "procedure": "kokuho",
            "life_events": ["tenkyo"],
            "conditions": "resident.foreign\r\n\r\nanswers.kokuho|eq('yes')\r\n",
            "description": "外国人住民の国保",
        },
    )
    assert response.status_code == 302
    rule = ProcedureRule.objects.get(description="外国人住民の国保")
    assert rule.procedure.code == "kokuho"
    assert rule.conditions == ["resident.foreign", "answers.kokuho|eq('yes')"]
    assert list(rule.life_events.values_list("code", flat=True)) == ["tenkyo"]
    [audit] = navigation_audits()
    assert (audit.actor, audit.target_ref, audit.detail["change"]) == (
        form_admin,
        f"kokuho#{rule.pk}",
        "create",
    )


def test_an_invalid_condition_is_refused_with_its_message_and_nothing_changes(
    navigation, admin_client: Client
) -> None:
    rule = ProcedureRule.objects.get(procedure__code="jido_teate", life_events__code="tennyu")
    rules = ProcedureRule.objects.count()
    for url, data in (
        (reverse("navigation:rule_create"), {"procedure": "kokuho", "life_events": ["tennyu"]}),
        (reverse("navigation:rule_edit", args=[rule.pk]), {"life_events": ["tennyu"]}),
    ):
        response = admin_client.post(url, {**data, "conditions": "household|age_under:15|count"})
        assert response.status_code == 400
        page = response.content.decode()
        assert "age_under:15" in page and "括弧で書きます" in page and "何も変更していません" in page
    assert ProcedureRule.objects.count() == rules
    rule.refresh_from_db()
    assert rule.conditions == ["household|age_under(15)|count"]
    assert navigation_audits() == []


def test_a_form_admin_edits_and_deletes_through_the_pages(navigation, admin_client: Client) -> None:
    response = admin_client.post(
        reverse("navigation:event_create"),
        {"code": "kaigo_nintei", "name": "介護認定", "order": "90", "active": "on", "name_en": "Care needs"},
    )
    assert response.status_code == 302
    assert LifeEvent.objects.get(code="kaigo_nintei").translations == {"en": "Care needs"}

    edit = reverse("navigation:event_edit", args=["kaigo_nintei"])
    assert admin_client.get(edit).status_code == 200
    response = admin_client.post(edit, {"code": "renamed", "name": "要介護認定", "order": "95"})
    assert response.status_code == 302
    event = LifeEvent.objects.get(code="kaigo_nintei")  # the code cannot be changed
    assert (event.name, event.order, event.active, event.translations) == ("要介護認定", 95, False, {})

    response = admin_client.post(
        reverse("navigation:question_create"),
        {
            "code": "kind",
            "text": "どれですか",
            "kind": "choice",
            "choices": "a=一つ目\r\nb=二つ目",
            "life_events": ["kaigo_nintei"],
            "order": "1",
        },
    )
    assert response.status_code == 302
    assert Question.objects.get(code="kind").choices == [
        {"value": "a", "label": "一つ目"},
        {"value": "b", "label": "二つ目"},
    ]
    assert admin_client.get(reverse("navigation:question_edit", args=["kind"])).status_code == 200

    response = admin_client.post(
        reverse("navigation:procedure_create"),
        {
            "code": "kaigo_nintei",
            "name": "要介護認定の申請",
            "department": "介護保険課",
            "counter_group": "kaigo",
            "form_codes": ["kaigo_hoken"],
            "bring": "介護保険被保険者証",
            "order": "65",
            "active": "on",
        },
    )
    assert response.status_code == 302
    procedure = Procedure.objects.get(code="kaigo_nintei")
    assert procedure.forms == ["kaigo_hoken"]
    assert procedure.counter_group is not None and procedure.counter_group.code == "kaigo"
    response = admin_client.post(
        reverse("navigation:procedure_edit", args=["kaigo_nintei"]),
        {"name": "要介護認定の申請", "form_codes": ["no_such_form"], "order": "65"},
    )
    assert response.status_code == 400  # only existing forms can be chosen
    procedure.refresh_from_db()
    assert procedure.forms == ["kaigo_hoken"]

    for name, arg in (
        ("procedure_delete", "kaigo_nintei"),
        ("question_delete", "kind"),
        ("event_delete", "kaigo_nintei"),
    ):
        assert admin_client.post(reverse(f"navigation:{name}", args=[arg])).status_code == 302
    assert not Procedure.objects.filter(code="kaigo_nintei").exists()
    assert not Question.objects.filter(code="kind").exists()
    assert not LifeEvent.objects.filter(code="kaigo_nintei").exists()
    assert [a.detail["change"] for a in navigation_audits()] == [
        "create",
        "update",
        "create",
        "create",
        "delete",
        "delete",
        "delete",
    ]


# --- 試算 ------------------------------------------------------------------------------------------------------


def test_the_trial_on_the_sample_household(navigation, admin_client: Client) -> None:
    assert admin_client.get(reverse("navigation:trial")).status_code == 200
    response = admin_client.post(
        reverse("navigation:trial"),
        {"life_events": ["tennyu"], "source": "sample", "answer_kokuho": "yes", "answer_inkan": "no"},
    )
    assert response.status_code == 200
    page = response.content.decode()
    for text in (
        "住民異動届",
        "国民健康保険の手続",
        "後期高齢者医療の手続",
        "児童手当の認定請求",
        "世帯に15歳未満の子どもがいる転入",
    ):
        assert text in page
    assert 'data-code="kokuho"' in page and 'data-code="inkan_toroku"' not in page
    assert not AuditEvent.objects.filter(target_type="resident").exists()  # the sample is fictional


def test_the_trial_on_a_resident_is_audited_as_a_view(
    navigation, small_city, admin_client, form_admin
) -> None:
    response = admin_client.post(
        reverse("navigation:trial"), {"life_events": ["tennyu"], "source": "resident", "atena_no": atena(3)}
    )
    assert response.status_code == 200
    result = response.content.decode().split('data-testid="trial-result"')[1]
    assert "児童手当の認定請求" in result  # person 4, born 2015, shares person 3's household
    assert "髙橋" not in result  # a real household is shown by 続柄 and age only
    [audit] = AuditEvent.objects.filter(target_type="resident")
    assert (audit.action, audit.actor, audit.target_ref) == (AuditAction.VIEW, form_admin, atena(3))
    assert audit.detail == {"purpose": "navigation trial"}

    response = admin_client.post(
        reverse("navigation:trial"), {"life_events": ["tennyu"], "source": "resident", "atena_no": "999"}
    )
    assert response.status_code == 400
    assert "この宛名番号の住民はいません" in response.content.decode()
    response = admin_client.post(
        reverse("navigation:trial"), {"life_events": ["tennyu"], "source": "resident"}
    )
    assert response.status_code == 400
    assert AuditEvent.objects.filter(target_type="resident").count() == 1
