"""The sandbox for admin-authored form templates (R-F6): Jinja2, hardened and on a budget.

City staff write the templates of flowing forms. A template must not read settings, the ORM, private attributes
or files, and must not run away with the worker. Jinja's ``ImmutableSandboxedEnvironment`` already hides private
attributes and the methods that change lists and dicts; on top of it this module

* loads no files: there is no loader, and ``{% include %}``, ``{% import %}``, ``{% from %}`` and ``{% extends %}``
  are refused when the template is compiled;
* offers a static check, ``template_problems``, that also names every variable outside the form's context;
* enforces budgets on every render (the constants below): loop iterations and macro calls, wall-clock time,
  characters written, the size of each value a template builds and of all of them together, integer size;
* reports every refusal as a ``TemplateSandboxError`` with a message in plain English.

There is no way to reach the network from a template. URLs written into the HTML are fetched, or refused, by the
PDF renderer's URL fetcher (``forms_engine.rendering``).

How the budgets are enforced: the code generator below makes the compiled template call the environment's
``budget_*`` hooks at the start of every loop iteration and on every value it prints, joins with ``~`` or writes
as a list, tuple or dict literal. Filters, calls and the ``*``, ``**``, ``+`` and ``%`` operators are checked
before they run (where their result can outgrow their arguments: ``'x' * 10**9``, ``'x'|center(10**9)``) and
after. Python cannot interrupt an operation once it runs, so sizes are checked before anything large is built,
and the deadline between operations. The budget of a render lives in a context variable: concurrent renders on
threads or tasks never share one.
"""

from __future__ import annotations

import functools
import math
import re
import string
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sized
from contextlib import contextmanager
from contextvars import ContextVar
from types import TracebackType
from typing import Any, NoReturn

import jinja2
from jinja2 import meta, nodes
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.runtime import Context, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment, modifies_known_mutable
from jinja2.utils import Namespace

__all__ = [
    "MAX_COMPUTED_SIZE",
    "MAX_INTEGER_BITS",
    "MAX_LOOP_ITERATIONS",
    "MAX_OUTPUT_CHARS",
    "MAX_RENDER_SECONDS",
    "MAX_VALUE_SIZE",
    "FormSandboxEnvironment",
    "TemplateSandboxError",
    "sandbox_environment",
    "sandbox_render",
    "template_problems",
]

#: Loop iterations in one render, every pass of every ``{% for %}`` (recursive loops included), plus macro calls.
MAX_LOOP_ITERATIONS = 100_000
#: Wall-clock seconds one render may take, checked between template operations.
MAX_RENDER_SECONDS = 5.0
#: Characters one render may write. Text written inside a macro or a ``{% set %}`` block is counted when it is
#: written, and again when the macro's result is printed.
MAX_OUTPUT_CHARS = 5_000_000
#: Size of any one value a template builds or prints: characters of a string, items of a list, tuple or dict plus
#: the sizes of those items, digits of an integer.
MAX_VALUE_SIZE = 1_000_000
#: Total size of the values that filters, calls and operators build in one render, so no loop piles up memory.
MAX_COMPUTED_SIZE = 20_000_000
#: Bits of an integer built with ``*`` or ``**`` (Python prints integers of up to 4300 digits, about 14 000 bits).
MAX_INTEGER_BITS = 10_000

# Filters that have nothing to do on paper and whose output can grow far beyond their input.
_REMOVED_FILTERS = frozenset({"tojson", "urlize"})
# Compiled templates carry this file name, so the template line of a runtime error can be found in its traceback.
_FILENAME = "<form template>"
# The environment method compiled templates call at the start of every loop iteration.
_LOOP_TICK = "budget_iteration"
_NO_FILES = "templates cannot include or import other files"
_TOO_DEEP = "recursion too deep (a macro or a recursive loop keeps calling itself)"
_NESTED = "the template is nested too deeply"
# printf-style fields ("%-10.3f", "%(name)s", "%*d"): the width and precision groups.
_PRINTF_FIELD = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
# str.format specifications ("<10", ">+#012,.3f"): the width and precision groups.
_FORMAT_SPEC = re.compile(r"(?:.?[<>=^])?[-+ ]?z?#?0?(\d*)[_,]?(?:\.(\d*))?")


class TemplateSandboxError(Exception):
    """A template broke a sandbox rule or could not be compiled. ``str()`` names the rule in plain English, with
    the template line where it is known: ``line 3: unknown name 'settings' (a form can use: ...)``,
    ``line 1: loop budget exceeded (...)``, ``line 2: access to private attribute '__class__' is not allowed``."""


def _loop_budget_exceeded() -> TemplateSandboxError:
    return TemplateSandboxError(
        f"loop budget exceeded (more than {MAX_LOOP_ITERATIONS} loop iterations and macro calls)"
    )


def _too_large(what: str) -> TemplateSandboxError:
    return TemplateSandboxError(f"{what} too large (more than {MAX_VALUE_SIZE} characters or items)")


class _RenderBudget:
    """What one render has used so far."""

    def __init__(self) -> None:
        self.deadline = time.monotonic() + MAX_RENDER_SECONDS
        self.iterations = 0
        self.output_chars = 0
        self.computed_size = 0

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise TemplateSandboxError(f"rendering took longer than {MAX_RENDER_SECONDS:g} s")

    def iterate(self) -> None:
        self.iterations += 1
        if self.iterations > MAX_LOOP_ITERATIONS:
            raise _loop_budget_exceeded()
        self.check_time()

    def write(self, text: str) -> None:
        self.output_chars += len(text)
        if self.output_chars > MAX_OUTPUT_CHARS:
            raise TemplateSandboxError(f"output larger than {MAX_OUTPUT_CHARS} characters")

    def compute(self, value: Any) -> Any:
        """``value``, once it is known to fit the size budgets."""
        self.computed_size += _checked_size(value, "a value is")
        if self.computed_size > MAX_COMPUTED_SIZE:
            raise TemplateSandboxError(
                f"the template builds too much (more than {MAX_COMPUTED_SIZE} characters or items in all)"
            )
        return value


_BUDGET: ContextVar[_RenderBudget | None] = ContextVar("form_template_budget", default=None)


def _budget() -> _RenderBudget:
    budget = _BUDGET.get()
    if budget is None:
        raise RuntimeError("form templates are rendered with forms_engine.sandbox.sandbox_render() only")
    return budget


@contextmanager
def _render_budget() -> Iterator[None]:
    token = _BUDGET.set(_RenderBudget())
    try:
        yield
    finally:
        _BUDGET.reset(token)


def _size(value: Any) -> int:
    """Characters of strings, digits of integers, and items of lists, tuples, sets, dicts and namespaces plus the
    sizes of those items, as printing the value would meet them (a shared item counts every time). Counting stops
    once past MAX_VALUE_SIZE, so it is cheap and ends even on a namespace that contains itself."""
    if isinstance(value, str):
        return len(value)
    total = 0
    pending = [value]
    while pending and total <= MAX_VALUE_SIZE:
        item = pending.pop()
        if isinstance(item, str | bytes):
            total += len(item)
        elif isinstance(item, int):
            total += item.bit_length() // 3
        elif isinstance(item, dict):
            total += len(item)
            if total <= MAX_VALUE_SIZE:
                pending.extend(item.keys())
                pending.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += len(item)
            if total <= MAX_VALUE_SIZE:
                pending.extend(item)
        elif isinstance(item, Namespace):
            # A namespace answers getattr() from its attributes; its own instance dict holds them.
            pending.append(object.__getattribute__(item, "__dict__"))
    return total


def _checked_size(value: Any, what: str) -> int:
    size = _size(value)
    if size > MAX_VALUE_SIZE:
        raise _too_large(what)
    return size


def _check_estimate(size: int, what: str) -> None:
    if size > MAX_VALUE_SIZE:
        raise _too_large(what)


def _arg(args: tuple[Any, ...], kwargs: Mapping[str, Any], index: int, name: str, default: Any = None) -> Any:
    """The argument of a filter or method given at ``index`` (after the value) or by ``name``."""
    return args[index] if len(args) > index else kwargs.get(name, default)


def _count(value: Any) -> int:
    """``value`` if it is a positive integer, else 0 (Python itself refuses a count of another type)."""
    return value if isinstance(value, int) and value > 0 else 0


def _check_width(width: str | None) -> None:
    if width == "*":
        raise TemplateSandboxError("'*' widths in format strings are not allowed")
    if width and (len(width) > len(str(MAX_VALUE_SIZE)) or int(width) > MAX_VALUE_SIZE):
        raise TemplateSandboxError(f"format widths above {MAX_VALUE_SIZE} are not allowed")


def _check_printf(text: str) -> None:
    """Refuses a printf-style format (``'%10d' % n``, ``|format``) with a huge or ``*`` width or precision."""
    for match in _PRINTF_FIELD.finditer(text):
        for width in match.groups():
            _check_width(width)


def _check_format_string(text: str) -> None:
    """Refuses a ``str.format`` string with a huge width or precision, or one taken from the arguments."""
    for _, field, spec, _ in string.Formatter().parse(text):
        if field is None or not spec:
            continue
        if "{" in spec:
            raise TemplateSandboxError("nested fields in format specifications are not allowed")
        match = _FORMAT_SPEC.match(spec)
        if match:
            for width in match.groups():
                _check_width(width)


def _replace_size(text: Any, old: Any, new: Any, count: Any) -> int:
    """An upper bound of the size of ``text.replace(old, new, count)``."""
    if not any(all(isinstance(part, kind) for part in (text, old, new)) for kind in (str, bytes)):
        return 0  # Python refuses mixed types itself
    places = len(text) + 1 if not old else text.count(old)
    if isinstance(count, int) and count >= 0:
        places = min(places, count)
    return len(text) + places * max(len(new) - len(old), 0)


def _method_result_size(method: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    """An upper bound of the size a ``str``, ``bytes`` or ``int`` method builds, for the methods whose result can
    outgrow the value they are called on (``'x'.ljust(10**9)``); 0 for any other call."""
    owner = getattr(method, "__self__", None)
    name = getattr(method, "__name__", "")
    if isinstance(owner, int) and name == "to_bytes":
        return _count(_arg(args, kwargs, 0, "length", 1))
    if not isinstance(owner, str | bytes):
        return 0
    match name:
        case "center" | "ljust" | "rjust" | "zfill":
            return _count(_arg(args, kwargs, 0, "width"))
        case "expandtabs":
            tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
            return len(owner) + tabs * _count(_arg(args, kwargs, 0, "tabsize", 8))
        case "replace":
            return _replace_size(
                owner,
                _arg(args, kwargs, 0, "old"),
                _arg(args, kwargs, 1, "new"),
                _arg(args, kwargs, 2, "count"),
            )
        case "join":
            items = _arg(args, kwargs, 0, "iterable", ())
            return _size(items) + len(owner) * (len(items) if isinstance(items, Sized) else 0)
        case "translate" if isinstance(owner, str):
            table = _arg(args, kwargs, 0, "table")
            replacements = table.values() if isinstance(table, dict) else ()
            return len(owner) * max((len(new) for new in replacements if isinstance(new, str)), default=1)
    return 0


_GUARDED_FILTERS = frozenset(
    {"batch", "center", "format", "indent", "join", "replace", "slice", "sum", "wordwrap"}
)


def _filter_result_size(name: str, value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    """An upper bound of the size a built-in filter builds, for the filters whose result can outgrow their
    arguments; 0 for the others. Refuses what no form needs: huge format widths, ``sum`` of anything but numbers."""
    match name:
        case "center":
            return _count(_arg(args, kwargs, 0, "width", 80))
        case "indent":
            text = str(value)
            width = _arg(args, kwargs, 0, "width", 4)
            unit = len(width) if isinstance(width, str) else _count(width)
            return len(text) + (text.count("\n") + 1) * unit
        case "wordwrap":
            wrapstring = _arg(args, kwargs, 2, "wrapstring") or "\n"
            return len(str(value)) * (1 + len(str(wrapstring)))
        case "replace":
            old, new = (str(_arg(args, kwargs, index, key, "")) for index, key in ((0, "old"), (1, "new")))
            return _replace_size(str(value), old, new, _arg(args, kwargs, 2, "count"))
        case "join":
            separator = str(_arg(args, kwargs, 0, "d", ""))
            return _size(value) + len(separator) * (len(value) if isinstance(value, Sized) else 0)
        case "batch" | "slice":
            count = _count(_arg(args, kwargs, 0, "linecount" if name == "batch" else "slices"))
            return _size(value) + count * (1 + _size(_arg(args, kwargs, 1, "fill_with")))
        case "format":
            _check_printf(str(value))
        case "sum" if not isinstance(_arg(args, kwargs, 1, "start", 0), int | float):
            raise TemplateSandboxError("filter 'sum' adds numbers only")
    return 0


def _budgeted_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` checked against the render's budget before it runs and on what it built. The wrapper takes
    the context, so Jinja never runs it while compiling, and hands ``function`` what it asks for."""
    # What the filter asks for, as marked by jinja2.pass_context, pass_eval_context or pass_environment.
    passes = getattr(getattr(function, "jinja_pass_arg", None), "name", None)
    guarded = name in _GUARDED_FILTERS

    @jinja2.pass_context
    def budgeted(context: Context, value: Any, /, *args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        budget.check_time()
        if guarded:
            if name == "join" and not isinstance(value, Sized):
                value = list(value)  # an iterator: its length is needed before joining
            size = _filter_result_size(name, value, args, kwargs)
            _check_estimate(size, f"the result of filter {name!r} would be")
        if passes == "context":
            result = function(context, value, *args, **kwargs)
        elif passes == "eval_context":
            result = function(context.eval_ctx, value, *args, **kwargs)
        elif passes == "environment":
            result = function(context.environment, value, *args, **kwargs)
        else:
            result = function(value, *args, **kwargs)
        return budget.compute(result)

    return budgeted


def _budgeted_range(*args: int) -> range:
    """``range`` for templates, refused outright when it alone would exceed the loop budget."""
    numbers = range(*args)
    try:
        too_long = len(numbers) > MAX_LOOP_ITERATIONS
    except OverflowError:  # longer than sys.maxsize
        too_long = True
    if too_long:
        raise _loop_budget_exceeded()
    return numbers


def _check_product(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int):
        _check_bits(left.bit_length() + right.bit_length(), "*")
        return
    for sequence, times in ((left, right), (right, left)):
        if isinstance(times, int) and times > 0:
            _check_estimate(_size(sequence) * times, "the result of '*' would be")


def _check_power(base: Any, exponent: Any) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        _check_bits(math.log2(abs(base)) * exponent, "**")


def _check_bits(bits: float, operator: str) -> None:
    if bits > MAX_INTEGER_BITS:
        raise TemplateSandboxError(
            f"the result of {operator!r} would be too large a number (more than {MAX_INTEGER_BITS} bits)"
        )


class _BudgetCodeGenerator(CodeGenerator):
    """Jinja's code generator, plus calls to the render budget: at the start of every loop iteration, and on every
    value printed, joined with ``~`` or written as a list, tuple or dict literal. Refuses file loading."""

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        # Jinja allows no custom node types: the tick is a statement no template can write.
        tick = nodes.ExprStmt(nodes.EnvironmentAttribute(_LOOP_TICK), lineno=node.lineno)
        body = [tick, *node.body]
        counted = nodes.For(
            node.target, node.iter, body, node.else_, node.test, node.recursive, lineno=node.lineno
        )
        super().visit_For(counted, frame)

    def visit_ExprStmt(self, node: nodes.ExprStmt, frame: Frame) -> None:
        if isinstance(node.node, nodes.EnvironmentAttribute) and node.node.name == _LOOP_TICK:
            self.writeline(f"environment.{_LOOP_TICK}()", node)
        else:
            super().visit_ExprStmt(node, frame)

    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        # Jinja's own visit_Concat, with every part checked before it is turned into text.
        if frame.eval_ctx.volatile:
            join = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            join = "markup_join"
        else:
            join = "str_join"
        self.write(f"{join}((")
        for part in node.nodes:
            self.write("environment.budget_value(")
            self.visit(part, frame)
            self.write("), ")
        self.write("))")

    def visit_List(self, node: nodes.List, frame: Frame) -> None:
        self.write("environment.budget_value(")
        super().visit_List(node, frame)
        self.write(")")

    def visit_Tuple(self, node: nodes.Tuple, frame: Frame) -> None:
        if node.ctx != "load":  # an assignment target: {% for key, value in ... %}
            super().visit_Tuple(node, frame)
            return
        self.write("environment.budget_value(")
        super().visit_Tuple(node, frame)
        self.write(")")

    def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
        self.write("environment.budget_value(")
        super().visit_Dict(node, frame)
        self.write(")")

    def _output_const_repr(self, group: Any) -> str:
        return f"environment.budget_output({super()._output_const_repr(group)})"

    def _output_child_pre(
        self, node: nodes.Expr, frame: Frame, finalize: CodeGenerator._FinalizeInfo
    ) -> None:
        self.write("environment.budget_output(")
        super()._output_child_pre(node, frame, finalize)
        self.write("environment.budget_value(")

    def _output_child_post(
        self, node: nodes.Expr, frame: Frame, finalize: CodeGenerator._FinalizeInfo
    ) -> None:
        self.write(")")
        super()._output_child_post(node, frame, finalize)
        self.write(")")

    def _refuse_files(self, node: nodes.Node, frame: Frame) -> NoReturn:
        self.fail(_NO_FILES, node.lineno)

    visit_Include = visit_Import = visit_FromImport = visit_Extends = _refuse_files


class FormSandboxEnvironment(ImmutableSandboxedEnvironment):
    """The environment of form templates: Jinja's immutable sandbox with the budgets of this module, missing
    attributes and keys rendered as empty (``ChainableUndefined``), no loader, and only the globals ``range``,
    ``dict`` and ``namespace``. Build it with ``sandbox_environment``; render with ``sandbox_render``."""

    code_generator_class = _BudgetCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, *, autoescape: bool, filters: Mapping[str, Callable[..., Any]] | None = None) -> None:
        super().__init__(autoescape=autoescape, undefined=jinja2.ChainableUndefined)
        # Jinja's lipsum, cycler and joiner are left out: a form has no use for them.
        self.globals = {"range": _budgeted_range, "dict": dict, "namespace": Namespace}
        builtin = {name: function for name, function in self.filters.items() if name not in _REMOVED_FILTERS}
        self.filters = {
            name: _budgeted_filter(name, function)
            for name, function in {**builtin, **(filters or {})}.items()
        }

    def budget_iteration(self) -> None:
        """Called by compiled templates at the start of every loop iteration."""
        _budget().iterate()

    def budget_value(self, value: Any) -> Any:
        """Called by compiled templates on a value about to be printed, joined or put in a literal: ``value``,
        once it is known to fit MAX_VALUE_SIZE."""
        _checked_size(value, "a value is")
        return value

    def budget_output(self, text: str) -> str:
        """Called by compiled templates on every piece of text they write: ``text``, once counted."""
        _budget().write(text)
        return text

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """``left operator right`` for the intercepted operators, refused before it builds anything too large."""
        if operator == "*":
            _check_product(left, right)
        elif operator == "**":
            _check_power(left, right)
        elif operator == "%" and isinstance(left, str):
            _check_printf(left)
        return _budget().compute(super().call_binop(context, operator, left, right))

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        """A call from a template (a macro, a method, ``range``), checked against the budgets."""
        budget = _budget()
        if isinstance(obj, Macro):
            budget.iterate()
        else:
            budget.check_time()
            name = getattr(obj, "__name__", type(obj).__name__)
            if not self.is_safe_callable(obj):
                raise TemplateSandboxError(f"calling {name!r} is not allowed")
            if name == "join" and args and not isinstance(args[0], Sized):
                args = (list(args[0]), *args[1:])  # an iterator: its length is needed before joining
            _check_estimate(_method_result_size(obj, args, kwargs), f"the result of {name!r} would be")
        return budget.compute(context.call(obj, *args, **kwargs))

    def unsafe_undefined(self, obj: Any, attribute: str) -> NoReturn:
        """Refuses an attribute the sandbox hides; Jinja would return an undefined value instead, and an
        undefined value prints as an empty string."""
        if attribute.startswith("_"):
            raise TemplateSandboxError(f"access to private attribute {attribute!r} is not allowed")
        if modifies_known_mutable(obj, attribute):
            raise TemplateSandboxError(
                f"templates cannot change data ({attribute!r} of a {type(obj).__name__})"
            )
        raise TemplateSandboxError(f"access to internal attribute {attribute!r} is not allowed")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """Jinja's sandboxed ``str.format``, refusing huge widths and widths taken from the arguments."""
        formatter = super().wrap_str_format(value)
        if formatter is None:
            return None
        template = value.__self__

        def checked(*args: Any, **kwargs: Any) -> str:
            _check_format_string(template)
            return formatter(*args, **kwargs)

        return checked


def sandbox_environment(
    *, autoescape: bool, filters: Mapping[str, Callable[..., Any]] | None = None
) -> FormSandboxEnvironment:
    """A sandbox for form templates (see ``FormSandboxEnvironment``) with ``filters`` added to Jinja's built-in
    filters. Register filters here: every filter is wrapped to check the render budget, and one added to
    ``env.filters`` later would not be."""
    return FormSandboxEnvironment(autoescape=autoescape, filters=filters)


def _syntax_problem(exc: jinja2.TemplateSyntaxError) -> str:
    return f"line {exc.lineno}: {exc.message or 'syntax error'}"


def _parse(env: FormSandboxEnvironment, source: str) -> nodes.Template:
    try:
        return env.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateSandboxError(_syntax_problem(exc)) from exc
    except RecursionError as exc:
        raise TemplateSandboxError(_NESTED) from exc


def _compile(env: FormSandboxEnvironment, ast: nodes.Template) -> jinja2.Template:
    try:
        code = env.compile(ast, filename=_FILENAME)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateSandboxError(_syntax_problem(exc)) from exc
    except RecursionError as exc:
        raise TemplateSandboxError(_NESTED) from exc
    return env.template_class.from_code(env, code, env.make_globals(None))


def _unknown_names(env: FormSandboxEnvironment, ast: nodes.Template, names: Collection[str]) -> list[str]:
    try:
        undeclared = meta.find_undeclared_variables(ast)
    except jinja2.TemplateSyntaxError:
        return []  # an unknown filter or test: compiling the template reports it
    unknown = undeclared - set(names) - set(env.globals)
    first_line: dict[str, int] = {}
    for node in ast.find_all(nodes.Name):
        if node.name in unknown:
            first_line[node.name] = min(node.lineno, first_line.get(node.name, node.lineno))
    usable = ", ".join(sorted(names)) or "nothing"
    return [
        f"line {first_line.get(name, 1)}: unknown name {name!r} (a form can use: {usable})"
        for name in sorted(unknown, key=lambda name: (first_line.get(name, 1), name))
    ]


def template_problems(env: FormSandboxEnvironment, source: str, *, names: Collection[str]) -> list[str]:
    """Why ``source`` cannot be used, without rendering it: a syntax error, names other than ``names`` and the
    globals ``range``, ``dict`` and ``namespace`` (by line), an unknown filter, a tag that loads files. Each
    problem is a message in plain English with its line; an empty list means the template compiles."""
    try:
        ast = _parse(env, source)
    except TemplateSandboxError as exc:
        return [str(exc)]
    problems = _unknown_names(env, ast, names)
    try:
        _compile(env, ast)
    except TemplateSandboxError as exc:
        problems.append(str(exc))
    return problems


def _template_line(tb: TracebackType | None) -> int | None:
    """The template line of the innermost template frame in ``tb`` (Jinja rewrites template frames so)."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == _FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _render_problem(exc: Exception) -> TemplateSandboxError:
    if isinstance(exc, TemplateSandboxError):
        reason = str(exc)
    elif isinstance(exc, RecursionError):
        reason = _TOO_DEEP
    elif isinstance(exc, jinja2.TemplateError):
        reason = exc.message or type(exc).__name__
    else:
        reason = f"{exc} ({type(exc).__name__})"
    line = _template_line(exc.__traceback__)
    return TemplateSandboxError(f"line {line}: {reason}" if line else reason)


@functools.lru_cache(maxsize=256)
def _prepared(env: FormSandboxEnvironment, source: str, names: frozenset[str] | None) -> jinja2.Template:
    """The compiled template, checked against ``names``; cached, since a packet renders the same forms again and
    again and compiling costs more than rendering. A template that fails is not cached."""
    ast = _parse(env, source)
    if names is not None and (unknown := _unknown_names(env, ast, names)):
        raise TemplateSandboxError(unknown[0])
    return _compile(env, ast)


def sandbox_render(
    env: FormSandboxEnvironment,
    source: str,
    context: Mapping[str, Any],
    *,
    names: Collection[str] | None = None,
) -> str:
    """``source`` rendered with ``context`` (plain dicts, lists, strings, numbers and dates) under the budgets of
    this module. With ``names``, a template using any other name is refused before it runs. Any problem, from a
    syntax error to a division by zero, raises TemplateSandboxError with the template line where known."""
    template = _prepared(env, source, frozenset(names) if names is not None else None)
    with _render_budget():
        try:
            return template.render(context)
        except Exception as exc:
            raise _render_problem(exc) from exc
