"""Benchmark: rendering the 転入 packet — 8 forms of the starter pack for a 4-person household — into one PDF.

Each round renders the packet through the engine as the counter does (versions read from the database, prefill,
sandboxed templates, overlay pages, QR codes, WeasyPrint) and, in the same run, bare WeasyPrint renders the same
final HTML (the baseline): the ratio of the two is the engine's overhead. Rounds alternate the two, after a warm-up.

    .venv/bin/python bench/render_packet.py              # 30 rounds
    .venv/bin/python bench/render_packet.py --rounds 10
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The 転入 packet: what a family moving in with a child and a grandparent over 75 fills at one visit.
PACKET = (
    "juminido",
    "inkan_toroku",
    "kokuho_ido",
    "kokumin_nenkin",
    "jido_teate",
    "kodomo_iryo",
    "koki_koreisha",
    "kaigo_hoken",
)
RECEPTION_NO = "20261121-shimin-1-0001"


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()

    scratch = tempfile.TemporaryDirectory(prefix="madoguchi-bench-")
    var = Path(scratch.name)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="madoguchi.settings",
        MADOGUCHI_VAR_DIR=str(var),
        DATABASE_URL=f"sqlite:///{var / 'bench.sqlite3'}",
    )
    import logging

    import django

    django.setup()
    logging.getLogger("weasyprint").setLevel(logging.WARNING)
    from django.core.management import call_command
    from weasyprint import HTML

    from forms_engine.rendering import render_packet, render_packet_html, sandboxed_fetcher
    from forms_engine.selectors import form_sample_context, form_version_current, render_source
    from forms_engine.services import form_fill, form_starter_pack_load

    call_command("migrate", verbosity=0)
    form_starter_pack_load()
    context = form_sample_context()

    def ours() -> tuple[bytes, int]:
        forms = []
        for code in PACKET:
            source = render_source(version=form_version_current(code=code))
            forms.append((source, form_fill(spec=source.spec, context=context)))
        packet = render_packet(forms, reception_no=RECEPTION_NO)
        return packet.pdf, packet.pages

    sources = [render_source(version=form_version_current(code=code)) for code in PACKET]
    final_html = render_packet_html(
        [(source, form_fill(spec=source.spec, context=context)) for source in sources],
        reception_no=RECEPTION_NO,
    )

    def bare() -> tuple[bytes, int]:
        document = HTML(string=final_html, url_fetcher=sandboxed_fetcher()).render()
        return document.write_pdf(), len(document.pages)

    pdf, pages = ours()  # warm-up: fonts, caches
    bare()
    timings: dict[str, list[float]] = {"ours": [], "bare": []}
    for _ in range(args.rounds):
        for name, run in (("ours", ours), ("bare", bare)):
            start = time.perf_counter()
            run()
            timings[name].append(time.perf_counter() - start)

    print(f"転入 packet: {len(PACKET)} forms, {pages} pages, {len(pdf):,} bytes; {args.rounds} rounds each")
    for name, label in (("ours", "madoguchi (DB → prefill → PDF)"), ("bare", "bare WeasyPrint, same HTML")):
        values = timings[name]
        p50, p95 = statistics.median(values), _percentile(values, 0.95)
        print(f"  {label:32} p50 {p50 * 1000:7.0f} ms  p95 {p95 * 1000:7.0f} ms  {pages / p50:5.1f} pages/s")
    ratio = statistics.median(timings["ours"]) / statistics.median(timings["bare"])
    print(f"  overhead: {ratio:.2f}x bare WeasyPrint (p50 / p50)")
    scratch.cleanup()


if __name__ == "__main__":
    main()
