"""axe-core (npm, see package.json) inside the end-to-end tests: inject it into a Playwright page, run it, and fail
on any violation of impact serious or critical, listing each rule, its impact and the nodes it found."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = frozenset({"serious", "critical"})


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """All of axe's violations on the page as it is now."""
    if not AXE_JS.exists():
        raise AssertionError(f"{AXE_JS} is missing: run `make test` (or `npm ci`) to install axe-core")
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol, which the page's Content-Security-Policy does not govern (a
        # <script> tag added with add_script_tag would be inline script, and refused by it).
        page.evaluate(AXE_JS.read_text(encoding="utf-8"))
    result: dict[str, Any] = page.evaluate(
        """async () => await axe.run(document, {resultTypes: ["violations"]})"""
    )
    return list(result["violations"])


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(
            f"{violation['id']} ({violation['impact']}): {violation['help']} — {violation['helpUrl']}"
        )
        for node in violation["nodes"]:
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            lines.append(f"    {node['target']}  {summary[:300]}")
    return "\n".join(lines)


def assert_accessible(page: Any, where: str) -> None:
    """No serious or critical axe violation on ``page``; ``where`` names the screen in the failure."""
    blocking = [v for v in axe_violations(page) if v.get("impact") in BLOCKING]
    assert not blocking, (
        f"axe-core: serious or critical violations on {where} ({page.url}):\n{describe(blocking)}"
    )
