import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from madoguchi.moji import repertoire as repertoire_module
from madoguchi.moji.repertoire import (
    DEFAULT_FONT,
    Repertoire,
    RepertoireNotGenerated,
    build_repertoire,
    load_repertoire,
    main,
    mj_repertoire,
    write_repertoire,
)

KUZU, TSUJI = ord("葛"), ord("辻")


class TestBuiltFromIpamj:
    def test_counts(self, mj: Repertoire) -> None:
        assert len(mj.characters) > 50_000
        assert len(mj.sequences) > 10_000
        assert len(mj.sequence_bases()) > 5_000
        if "Version 005.01" in mj.source:
            # domain.md §3: IPAmj明朝 005.01 has 11,474 variation mappings over 5,057 base characters.
            assert (len(mj.sequences), len(mj.sequence_bases())) == (11_474, 5_057)

    def test_moji_joho_sequences_not_adobe_japan1(self, mj: Repertoire) -> None:
        assert mj.has_sequence(KUZU, 0xE0102)
        assert mj.has_sequence(KUZU, 0xE0108)
        assert not mj.has_sequence(KUZU, 0xE0100)  # Adobe-Japan1
        assert mj.has_sequence(TSUJI, 0xE0102)
        assert mj.has_sequence(TSUJI, 0xE0103)
        assert not mj.has_sequence(TSUJI, 0xE0100)

    def test_characters(self, mj: Repertoire) -> None:
        for char in "葛辻髙﨑𠮷吉　ア漢A1":
            assert mj.has_base(ord(char)), char
        assert mj.has_base(0xF9DC)  # a compatibility ideograph is its own MJ glyph
        assert not mj.has_base(ord("😀"))
        assert not mj.has_base(0xF860)  # mapped by the font, but BMP private use is never MJ+
        assert not mj.has_base(0xE0102)
        assert not mj.has_base(0x0A)

    def test_standardized_variation_sequences_are_included(self, mj: Repertoire) -> None:
        assert any(vs == 0xFE00 for _, vs in mj.sequences)

    def test_generated_file_reads_back_identical_and_fast(
        self, mj: Repertoire, repertoire_file: Path
    ) -> None:
        built = build_repertoire(DEFAULT_FONT)
        assert (mj.characters, mj.sequences, mj.source) == (built.characters, built.sequences, built.source)
        assert "IPAmj" in mj.source
        assert repertoire_file.stat().st_size < 400_000
        started = time.perf_counter()
        load_repertoire(repertoire_file)
        assert time.perf_counter() - started < 1.0  # about 40 ms; generous for loaded CI machines


class TestFile:
    def test_round_trip(self, tmp_path: Path) -> None:
        small = Repertoire(
            [0x20, 0x21, 0x22, KUZU, 0x20BB7], [(KUZU, 0xE0102), (KUZU, 0xE0103)], source="test"
        )
        write_repertoire(small, tmp_path / "r.txt")
        text = (tmp_path / "r.txt").read_text()
        assert "\n20-22\n" in text and "\n845B E0102-E0103\n" in text
        loaded = load_repertoire(tmp_path / "r.txt")
        assert (loaded.characters, loaded.sequences, loaded.source) == (
            small.characters,
            small.sequences,
            "test",
        )
        assert oct((tmp_path / "r.txt").stat().st_mode & 0o777) == oct(0o644)

    def test_never_mj_code_points_are_left_out(self) -> None:
        assert Repertoire([0x41, 0xE000, 0x07, 0xFFFD, 0x100000, 0xE0100], []).characters == {0x41}

    def test_damaged_files_are_refused(self, tmp_path: Path, repertoire_file: Path) -> None:
        path = tmp_path / "r.txt"
        path.write_text("hello\n")
        with pytest.raises(ValueError, match="not an MJ repertoire file"):
            load_repertoire(path)
        lines = repertoire_file.read_text().splitlines()
        path.write_text("\n".join(lines[: len(lines) // 2]) + "\n")
        with pytest.raises(ValueError, match="damaged"):
            load_repertoire(path)
        path.write_text("\n".join(lines[:-10]) + "\n")
        with pytest.raises(ValueError, match=r"damaged.*build it again"):
            load_repertoire(path)


class TestDefaultFile:
    def test_missing_file_tells_the_operator_what_to_run(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        monkeypatch.setattr(repertoire_module, "DEFAULT_PATH", tmp_path / "absent.txt")
        mj_repertoire.cache_clear()
        try:
            with pytest.raises(RepertoireNotGenerated, match=r"python -m madoguchi\.moji\.repertoire build"):
                mj_repertoire()
        finally:
            mj_repertoire.cache_clear()

    def test_loaded_once(self, monkeypatch: pytest.MonkeyPatch, repertoire_file: Path) -> None:
        monkeypatch.setattr(repertoire_module, "DEFAULT_PATH", repertoire_file)
        mj_repertoire.cache_clear()
        try:
            assert mj_repertoire() is mj_repertoire()
            assert mj_repertoire().has_sequence(KUZU, 0xE0102)
        finally:
            mj_repertoire.cache_clear()


class TestCommandLine:
    def test_build_writes_the_file_and_prints_counts(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        out = tmp_path / "generated" / "mj.txt"
        assert main(["build", "--out", str(out)]) == 0
        printed = capsys.readouterr().out
        assert "variation sequences over" in printed and str(out) in printed
        assert load_repertoire(out).has_sequence(TSUJI, 0xE0102)

    def test_missing_font(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["build", "--font", str(tmp_path / "none.ttf"), "--out", str(tmp_path / "x")]) == 1
        assert "fonts-ipamj-mincho" in capsys.readouterr().err
        assert not (tmp_path / "x").exists()

    def test_runs_without_django_settings(self, tmp_path: Path) -> None:
        # A settings module that cannot be imported: any use of Django settings would fail the command.
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "no.such.settings"}
        out = tmp_path / "mj.txt"
        result = subprocess.run(
            [sys.executable, "-m", "madoguchi.moji.repertoire", "build", "--out", str(out)],
            env=env,
            cwd=Path(__file__).resolve().parents[2],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "variation sequences over" in result.stdout
        assert out.is_file()
