"""The form commands an operator runs, and template details a form admin relies on."""

import datetime as dt
import json

import pytest
from django.core.management import CommandError, call_command

from forms_engine.models import FormTemplate, FormVersion
from forms_engine.rendering import RenderSource, render_form_html
from forms_engine.schema import VersionSpec
from forms_engine.services import (
    STARTER_DIR,
    FormEditError,
    FormFileInvalid,
    form_file_import,
    form_template_create,
)

pytestmark = pytest.mark.django_db


def test_export_form_then_import_forms_round_trips(starter_forms, tmp_path, capsys) -> None:
    out = tmp_path / "inkan.json"
    call_command("export_form", "inkan_toroku", "--number", "1", "--out", str(out))
    data = json.loads(out.read_text(encoding="utf-8"))
    assert [v["number"] for v in data["versions"]] == [1] and len(data["assets"]) == 1
    call_command("import_forms", str(out))
    assert "already here v1" in capsys.readouterr().out
    data["code"] = "inkan_copy"
    out.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    call_command("import_forms", str(out))
    assert FormVersion.objects.get(template__code="inkan_copy").assets.count() == 1
    with pytest.raises(CommandError, match="no such form"):
        call_command("export_form", "nothing", "--out", str(out))


def test_import_forms_refuses_a_broken_file_naming_it(tmp_path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "madoguchi-form/2", "code": "x", ', encoding="utf-8")
    with pytest.raises(CommandError, match=r"broken.json: not valid JSON: line 1"):
        call_command("import_forms", str(broken))
    assert not FormTemplate.objects.exists()


def test_codes_that_are_paths_of_the_forms_pages_are_refused(starter_forms) -> None:
    with pytest.raises(FormEditError, match="dictionary"):
        form_template_create(code="dictionary", name="x", mode="flow", actor=None)
    data = json.loads((STARTER_DIR / "juminido.json").read_text())
    with pytest.raises(FormFileInvalid, match=r"code: .*reserved"):
        form_file_import(content=json.dumps({**data, "code": "import"}).encode(), source="f.json", actor=None)


def test_a_draft_here_is_not_published_by_a_file_saying_published(starter_forms) -> None:
    data = json.loads((STARTER_DIR / "tetsuzuki_annai.json").read_text())
    draft = {**data, "code": "annai2", "versions": [{**data["versions"][0], "status": "draft"}]}
    form_file_import(content=json.dumps(draft).encode(), source="draft.json", actor=None)
    with pytest.raises(FormFileInvalid, match="is a draft here and published in the file"):
        form_file_import(
            content=json.dumps({**data, "code": "annai2"}).encode(), source="pub.json", actor=None
        )
    assert not FormVersion.objects.get(template__code="annai2").is_published


def test_templates_count_ages_on_the_context_today_and_default_missing_keys() -> None:
    spec = VersionSpec.model_validate(
        {
            "number": 1,
            "layout": {
                "mode": "flow",
                "body": "{{ resident.birth_date|age }}/{{ household|age_under(15)|count }}/"
                "{{ answers.x|default('なし') }}",
            },
        }
    )
    context = {
        "today": dt.date(2026, 11, 21),
        "resident": {"birth_date": "2011-11-22"},
        "household": [{"birth_date": "2011-11-22"}],
        "answers": {},
    }
    html = render_form_html(RenderSource(code="t", name="t", number=1, spec=spec), context)
    assert "14/1/なし" in html
