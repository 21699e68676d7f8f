"""The A4 driver through CUPS's ``lp``: the command line and the PDF it gets, and its failures as PrintFailed.
``lp`` here is a stand-in on PATH that records what it was given and answers as lp does (a request id, or an
error on stderr with a non-zero exit); a real CUPS server is outside the tests' machine."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from devices.agent.drivers import CupsA4Printer, PrintFailed

LP = """#!/bin/sh
printf '%s\\n' "$@" > "{record}/args"
cat > "{record}/stdin"
if [ "$2" = "broken" ]; then
  echo "lp: The printer or class does not exist." >&2
  exit 1
fi
echo "request id is $2-42 (1 file(s))"
"""


@pytest.fixture
def lp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir, record = tmp_path / "bin", tmp_path / "record"
    bin_dir.mkdir()
    record.mkdir()
    script = bin_dir / "lp"
    script.write_text(LP.format(record=record))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return record


def test_the_pdf_goes_to_the_queue_on_lps_standard_input(lp: Path) -> None:
    pdf = b"%PDF-1.7\n" + bytes(range(256)) * 40
    where = CupsA4Printer("Shimin1-A4").print_pdf(name="job-7.pdf", pdf=pdf)
    assert where == "request id is Shimin1-A4-42 (1 file(s))"
    assert (lp / "args").read_text().split("\n")[:5] == ["-d", "Shimin1-A4", "-t", "job-7.pdf", "-"]
    assert (lp / "stdin").read_bytes() == pdf


def test_lps_refusal_is_a_print_failure_with_its_message(lp: Path) -> None:
    with pytest.raises(PrintFailed, match="The printer or class does not exist"):
        CupsA4Printer("broken").print_pdf(name="job-8.pdf", pdf=b"%PDF")


def test_no_lp_on_the_pc_is_a_print_failure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PrintFailed, match="cannot run lp for queue Shimin1-A4"):
        CupsA4Printer("Shimin1-A4").print_pdf(name="job-9.pdf", pdf=b"%PDF")
