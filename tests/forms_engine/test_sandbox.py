"""The sandbox of admin-authored form templates (R-F6): every attempt to reach settings, Python internals, files
or to run away fails with a clear message; ordinary forms still render."""

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.conf import settings

from forms_engine import sandbox
from forms_engine.sandbox import TemplateSandboxError, sandbox_environment, sandbox_render, template_problems

NAMES = frozenset({"answers", "card", "city", "fields", "household", "resident", "session", "today"})
CONTEXT: dict[str, Any] = {
    "city": {"name": "窓口市"},
    "today": dt.date(2026, 11, 21),
    "resident": {"shimei": "葛西　花子", "birth_date": dt.date(1980, 1, 1)},
    "household": [{"shimei": "葛西　花子"}, {"shimei": "葛西　太郎"}],
    "fields": {},
}


def _shout(value: Any) -> str:
    return f"{value}!"


ENV = sandbox_environment(autoescape=True, filters={"shout": _shout})


def render(
    source: str, *, names: frozenset[str] | None = NAMES, context: dict[str, Any] | None = None
) -> str:
    return sandbox_render(ENV, source, CONTEXT if context is None else context, names=names)


def refused(source: str, *, names: frozenset[str] | None = NAMES) -> str:
    with pytest.raises(TemplateSandboxError) as caught:
        render(source, names=names)
    return str(caught.value)


def test_an_ordinary_form_renders() -> None:
    source = (
        "{{ city.name }}長 {{ resident.shimei }} {{ resident.birth_date.isoformat() }}"
        "{% for person in household %}[{{ loop.index }} {{ person.shimei }}]{% endfor %}"
        "{% set ns = namespace(count=0) %}{% for person in household %}{% set ns.count = ns.count + 1 %}{% endfor %}"
        " {{ ns.count }} {{ household|map(attribute='shimei')|join('、') }} {{ 'ok'|shout }}"
        " {{ '%05d'|format(42) }} {{ '{:>4}'.format(7) }} {{ range(3)|list }} {{ '<b>' }}"
    )
    assert render(source) == (
        "窓口市長 葛西　花子 1980-01-01[1 葛西　花子][2 葛西　太郎] 2 葛西　花子、葛西　太郎 ok!"
        " 00042    7 [0, 1, 2] &lt;b&gt;"
    )


def test_missing_attributes_and_keys_render_empty() -> None:
    assert render("[{{ resident.missing.deeper }}{{ fields.none['x'].y }}]") == "[]"


def test_csv_style_environment_does_not_escape() -> None:
    env = sandbox_environment(autoescape=False)
    assert sandbox_render(env, "{{ v }}", {"v": "A&B <棟>"}) == "A&B <棟>"


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("{{ settings.SECRET_KEY }}", "settings"),
        ("{{ config }}", "config"),
        ("{{ request.user }}", "request"),
        ("{{ lipsum.__globals__ }}", "lipsum"),
        ("{{ cycler.__init__.__globals__ }}", "cycler"),
    ],
)
def test_names_outside_the_context_are_refused(source: str, name: str) -> None:
    message = refused(f"{{{{ resident.shimei }}}}\n{source}")
    assert message.startswith(f"line 2: unknown name {name!r} (a form can use: answers, card, city, fields,")


def test_secrets_never_appear_even_without_the_names_check() -> None:
    source = "{{ settings.SECRET_KEY }}{{ config }}{{ request }}{{ environment }}{{ lipsum }}{{ self }}"
    assert settings.SECRET_KEY not in render(source, names=None)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "{{ ''.__class__.__mro__[1].__subclasses__() }}",
            "access to private attribute '__class__' is not allowed",
        ),
        ("{{ resident.__class__ }}", "access to private attribute '__class__' is not allowed"),
        ("{{ resident['__class__'] }}", "access to private attribute '__class__' is not allowed"),
        ("{{ resident|attr('__class__') }}", "access to private attribute '__class__' is not allowed"),
        ("{{ '{0.__class__}'.format(resident) }}", "access to private attribute '__class__' is not allowed"),
        ("{{ (1).__class__.__base__ }}", "access to private attribute '__class__' is not allowed"),
        (
            "{{ namespace.__init__.__globals__['os'] }}",
            "access to private attribute '__init__' is not allowed",
        ),
        ("{{ range.__globals__ }}", "access to private attribute '__globals__' is not allowed"),
        (
            "{{ self._TemplateReference__context }}",
            "access to private attribute '_TemplateReference__context' is not allowed",
        ),
        ("{{ dict.mro() }}", "access to internal attribute 'mro' is not allowed"),
        ("{{ household.append(1) }}", "templates cannot change data ('append' of a list)"),
        ("{{ resident.update({}) }}", "templates cannot change data ('update' of a dict)"),
        ("{{ resident.pop('shimei') }}", "templates cannot change data ('pop' of a dict)"),
    ],
)
def test_python_internals_and_mutation_are_refused(source: str, message: str) -> None:
    assert refused(source) == f"line 1: {message}"


def test_cycler_lipsum_and_joiner_are_gone() -> None:
    assert set(ENV.globals) == {"range", "dict", "namespace"}
    assert render("[{{ lipsum }}{{ cycler }}{{ joiner }}]", names=None) == "[]"


def test_unsafe_callables_are_refused() -> None:
    def delete() -> None:
        raise AssertionError("called")

    delete.alters_data = True  # type: ignore[attr-defined]  # Django's marker for methods that write
    with pytest.raises(TemplateSandboxError, match="line 1: calling 'delete' is not allowed"):
        sandbox_render(ENV, "{{ delete() }}", {"delete": delete})


@pytest.mark.parametrize(
    "source",
    [
        "{% include '/etc/passwd' %}",
        "{% import 'x' as y %}",
        "{% extends 'base.html' %}",
        "{% from 'x' import y %}",
    ],
)
def test_templates_cannot_load_files(source: str) -> None:
    assert template_problems(ENV, f"ok\n{source}", names=NAMES) == [
        "line 2: templates cannot include or import other files"
    ]
    assert refused(f"ok\n{source}", names=None) == "line 2: templates cannot include or import other files"


def test_nothing_reaches_the_network() -> None:
    """A template has no global, filter or loader that could open a URL or a file. URLs a template writes into
    the HTML are loaded, or refused, by the PDF renderer's sandboxed URL fetcher, tested with rendering."""
    assert ENV.loader is None
    assert set(ENV.globals) == {"range", "dict", "namespace"}
    assert "urlize" not in ENV.filters


@pytest.mark.parametrize(
    "source",
    [
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{{ range(10**9) }}",
        "{% for i in range(10**9) %}{% endfor %}",
        "{% for c in 'x' * 10**6 %}{% endfor %}",
    ],
)
def test_loops_stop_at_the_loop_budget(source: str) -> None:
    assert (
        refused(source) == "line 1: loop budget exceeded (more than 100000 loop iterations and macro calls)"
    )


def test_macro_calls_count_toward_the_loop_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "MAX_LOOP_ITERATIONS", 1000)
    source = "{% macro r(n) %}{% if n %}{{ r(n - 1) }}{{ r(n - 1) }}{% endif %}{% endmacro %}\n{{ r(40) }}"
    assert "loop budget exceeded (more than 1000 loop iterations and macro calls)" in refused(source)


@pytest.mark.parametrize(
    "source",
    [
        "{% macro r() %}{{ r() }}{% endmacro %}{{ r() }}",
        "{% for x in household recursive %}{{ loop(household) }}{% endfor %}",
    ],
)
def test_endless_recursion_is_refused(source: str) -> None:
    assert refused(source) == "line 1: recursion too deep (a macro or a recursive loop keeps calling itself)"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ 'x' * 10**9 }}", "the result of '*' would be too large"),
        ("{{ [1] * 10**9 }}", "the result of '*' would be too large"),
        ("{{ [[1] * 1000] * 1000 }}", "the result of '*' would be too large"),
        ("{{ 2 ** (10 ** 8) }}", "the result of '**' would be too large a number (more than 10000 bits)"),
        ("{{ (10 ** 3000) * (10 ** 3000) }}", "the result of '*' would be too large a number"),
        ("{{ 'x'|center(10**9) }}", "the result of filter 'center' would be too large"),
        ("{{ ('x' * 1000)|replace('x', 'y' * 10000) }}", "the result of filter 'replace' would be too large"),
        ("{{ range(1000)|join('x' * 10000) }}", "the result of filter 'join' would be too large"),
        ("{{ [1]|batch(10**9, 'x') }}", "the result of filter 'batch' would be too large"),
        ("{{ 'x'.ljust(10**9) }}", "the result of 'ljust' would be too large"),
        ("{{ ('x' * 1000).replace('x', 'y' * 10000) }}", "the result of 'replace' would be too large"),
        ("{{ (1).to_bytes(10**9, 'big') }}", "the result of 'to_bytes' would be too large"),
        ("{{ '%1000000000d' % 1 }}", "format widths above 1000000 are not allowed"),
        ("{{ '%1000000000d'|format(1) }}", "format widths above 1000000 are not allowed"),
        ("{{ '{:>1000000000}'.format(1) }}", "format widths above 1000000 are not allowed"),
        ("{{ '{:{}}'.format(1, 10**9) }}", "nested fields in format specifications are not allowed"),
        ("{{ '%*d' % (10**9, 1) }}", "'*' widths in format strings are not allowed"),
        ("{{ [[1], [2]]|sum(start=[]) }}", "filter 'sum' adds numbers only"),
    ],
)
def test_values_that_would_blow_up_are_refused_before_they_are_built(source: str, message: str) -> None:
    assert refused(source).startswith(f"line 1: {message}")


def test_a_value_doubled_in_a_loop_stops_at_the_value_budget() -> None:
    source = (
        "{% set ns = namespace(v='x' * 1000) %}"
        "{% for i in range(40) %}{% set ns.v = [ns.v, ns.v] %}{% endfor %}{{ ns.v }}"
    )
    assert refused(source) == "line 1: a value is too large (more than 1000000 characters or items)"


def test_output_stops_at_the_output_budget() -> None:
    source = "{% for i in range(1000) %}{{ 'x' * 10000 }}{% endfor %}"
    assert refused(source) == "line 1: output larger than 5000000 characters"


def test_text_captured_by_a_macro_counts_toward_the_output() -> None:
    source = "{% macro m() %}{% for i in range(1000) %}{{ 'x' * 10000 }}{% endfor %}{% endmacro %}{% set x = m() %}"
    assert refused(source) == "line 1: output larger than 5000000 characters"


def test_rendering_stops_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "MAX_RENDER_SECONDS", 0.01)
    source = "{% for i in range(90000) %}{{ i|string|replace('1', 'one') }}{% endfor %}"
    assert refused(source) == "line 1: rendering took longer than 0.01 s"


def test_budgets_belong_to_one_render() -> None:
    source = "{% for i in range(60000) %}{% endfor %}done"
    assert render(source) == render(source) == "done"
    with ThreadPoolExecutor(max_workers=2) as pool:
        assert list(pool.map(render, [source, source])) == ["done", "done"]


def test_templates_render_only_through_sandbox_render() -> None:
    with pytest.raises(RuntimeError, match="sandbox_render"):
        ENV.from_string("{{ 1 }}").render()


def test_runtime_errors_name_the_line() -> None:
    assert refused("ok\n{{ resident.shimei }}\n{{ 1 / 0 }}") == "line 3: division by zero (ZeroDivisionError)"
    assert refused("{{ resident.missing() }}") == "line 1: 'dict object' has no attribute 'missing'"


def test_template_problems_reports_syntax_names_and_filters() -> None:
    assert template_problems(ENV, "{{ resident.shimei }}\n{% for x in household %}", names=NAMES) == [
        "line 2: Unexpected end of template. Jinja was looking for the following tags: 'endfor' or 'else'. "
        "The innermost block that needs to be closed is 'for'."
    ]
    assert template_problems(ENV, "{{ a }}\n{{ b }}\n{{ a }}", names=NAMES) == [
        "line 1: unknown name 'a' (a form can use: answers, card, city, fields, household, resident, session, today)",
        "line 2: unknown name 'b' (a form can use: answers, card, city, fields, household, resident, session, today)",
    ]
    assert template_problems(ENV, "{{ resident }}\n{{ resident|tojson }}", names=NAMES) == [
        "line 2: No filter named 'tojson'."
    ]
    assert template_problems(ENV, "{% set a = 1 %}{{ a }}{{ range(2)|list }}", names=NAMES) == []
