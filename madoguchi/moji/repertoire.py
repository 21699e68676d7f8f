"""The MJ repertoire (文字情報基盤, domain.md §3) as a machine-readable set, taken from the cmap of IPAmj明朝.

Debian's fonts-ipamj-mincho covers the MJ set: its best cmap lists the code points, its format-14 subtable the
variation sequences (Moji_Joho IVS, base + U+E0100…U+E01EF, and standardized ones with U+FE00/U+FE01). The
repertoire is derived from a third-party font, so it is not committed: set-up writes it to
``madoguchi/moji/generated/mj-repertoire.txt`` with::

    python -m madoguchi.moji.repertoire build [--font PATH] [--out PATH]

Nothing here reads Django settings; fontTools (installed with WeasyPrint) is needed only to build.

File format (UTF-8 text, hexadecimal code points)::

    madoguchi-mj-repertoire 1
    # comment lines
    characters <count>
    <first>[-<last>]            one line per run of consecutive code points
    sequences <count>
    <base> <selector>[-<last selector>] …   one line per base, selectors as runs
"""

import argparse
import functools
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

DEFAULT_FONT = Path("/usr/share/fonts/truetype/ipamj/ipamjm.ttf")
DEFAULT_PATH = Path(__file__).resolve().parent / "generated" / "mj-repertoire.txt"
FORMAT_LINE = "madoguchi-mj-repertoire 1"
_SOURCE = "# MJ repertoire from "


def is_never_mj(cp: int) -> bool:
    """True for code points that cannot stand alone in MJ+ text whatever the font maps: C0/C1 controls,
    surrogates, private use (BMP, planes 15-16), U+FFFD and variation selectors."""
    return (
        cp < 0x20
        or 0x7F <= cp <= 0x9F
        or 0xD800 <= cp <= 0xF8FF
        or cp == 0xFFFD
        or cp >= 0xF0000
        or 0xFE00 <= cp <= 0xFE0F
        or 0xE0100 <= cp <= 0xE01EF
    )


class Repertoire:
    """A set of characters and of (base, variation selector) sequences, with fast membership tests.

    Code points that can never be MJ+ text on their own (``is_never_mj``) are left out of the characters.

    ``source`` says where the set came from (font and version), for messages and the generated file's header.
    """

    def __init__(self, characters: Iterable[int], sequences: Iterable[tuple[int, int]], *, source: str = ""):
        self.characters: frozenset[int] = frozenset(cp for cp in characters if not is_never_mj(cp))
        self.sequences: frozenset[tuple[int, int]] = frozenset(sequences)
        self.source = source
        bmp = sorted(cp for cp in self.characters if cp <= 0xFFFF)
        # Matches the first character that is not a BMP character of the repertoire. A value without one is
        # accepted at C speed; anything else (IVS, 𠮷, GJ, emoji, controls) gets the character-by-character look.
        if bmp:
            allowed = "".join(
                f"\\u{first:04x}" if first == last else f"\\u{first:04x}-\\u{last:04x}"
                for first, last in _runs(bmp)
            )
            self.outside_bmp_repertoire: re.Pattern[str] = re.compile(f"[^{allowed}]")
        else:
            self.outside_bmp_repertoire = re.compile(r"[\s\S]")

    def has_base(self, cp: int) -> bool:
        """True when the code point ``cp`` is a character of the repertoire."""
        return cp in self.characters

    def has_sequence(self, base_cp: int, vs_cp: int) -> bool:
        """True when ``base_cp`` followed by the variation selector ``vs_cp`` is a sequence of the repertoire."""
        return (base_cp, vs_cp) in self.sequences

    def sequence_bases(self) -> frozenset[int]:
        """The base characters that have at least one variation sequence."""
        return frozenset(base for base, _ in self.sequences)

    def summary(self) -> str:
        """Counts, for people: characters, variation sequences and their bases."""
        return (
            f"{len(self.characters):,} characters, {len(self.sequences):,} variation sequences over "
            f"{len(self.sequence_bases()):,} base characters"
        )


class RepertoireNotGenerated(RuntimeError):
    """The generated MJ repertoire file is missing: set-up has not run."""


def _runs(sorted_cps: Sequence[int]) -> Iterator[tuple[int, int]]:
    """Runs of consecutive code points in an ascending sequence, as (first, last)."""
    if not sorted_cps:
        return
    first = last = sorted_cps[0]
    for cp in sorted_cps[1:]:
        if cp != last + 1:
            yield first, last
            first = cp
        last = cp
    yield first, last


def build_repertoire(font_path: Path = DEFAULT_FONT) -> Repertoire:
    """Read the MJ repertoire from a font: the best cmap gives the characters, the format-14 subtable the
    variation sequences (default and non-default UVS mappings alike).

    IPAmj明朝 also maps five BMP private-use code points (U+F860–F862, U+F87A, U+F87F); ``Repertoire`` leaves
    them out.
    """
    from fontTools.ttLib import TTFont

    with TTFont(str(font_path), lazy=True) as font:
        cmap = font["cmap"]
        characters = list(cmap.getBestCmap())
        sequences: list[tuple[int, int]] = []
        for table in cmap.tables:
            if table.format == 14:
                # uvsDict: selector → [(base, glyph name, or None for a default mapping)]
                sequences.extend((base, vs) for vs, mappings in table.uvsDict.items() for base, _ in mappings)
        names = font["name"]
        family = names.getDebugName(4) or font_path.name
        version = names.getDebugName(5) or "unknown version"
    return Repertoire(characters, sequences, source=f"{font_path} ({family}, {version})")


def _run_text(first: int, last: int) -> str:
    return f"{first:X}" if first == last else f"{first:X}-{last:X}"


def write_repertoire(repertoire: Repertoire, path: Path) -> None:
    """Write ``repertoire`` to ``path`` in the compact text format, atomically (readers never see half a file)."""
    by_base: dict[int, list[int]] = {}
    for base, vs in repertoire.sequences:
        by_base.setdefault(base, []).append(vs)
    lines = [
        FORMAT_LINE,
        f"{_SOURCE}{repertoire.source}",
        "# Written by `python -m madoguchi.moji.repertoire build`. Derived from a third-party font: do not commit.",
        f"characters {len(repertoire.characters)}",
        *(_run_text(first, last) for first, last in _runs(sorted(repertoire.characters))),
        f"sequences {len(repertoire.sequences)}",
        *(
            " ".join([f"{base:X}", *(_run_text(first, last) for first, last in _runs(sorted(by_base[base])))])
            for base in sorted(by_base)
        ),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            out.write("\n".join(lines) + "\n")
        os.chmod(temporary, 0o644)  # mkstemp creates 0600; the file is public data for every process
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _parse_run(text: str) -> range:
    first, _, last = text.partition("-")
    return range(int(first, 16), int(last or first, 16) + 1)


def _heading_count(line: str, heading: str) -> int:
    name, _, count = line.partition(" ")
    if name != heading:
        raise ValueError(f"{heading!r} expected, found {line!r}")
    return int(count)


def load_repertoire(path: Path) -> Repertoire:
    """Read a repertoire written by ``write_repertoire``; ValueError when the file is not one or is damaged."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0] != FORMAT_LINE:
        raise ValueError(f"{path} is not an MJ repertoire file ({FORMAT_LINE!r} expected on the first line)")
    source = next((line[len(_SOURCE) :] for line in lines if line.startswith(_SOURCE)), "")
    body = [line for line in lines[1:] if line and not line.startswith("#")]
    split = next((i for i, line in enumerate(body) if line.startswith("sequences ")), None)
    if split is None:
        raise ValueError(f"{path} is damaged (no 'sequences' line); build it again")
    try:
        wanted = (_heading_count(body[0], "characters"), _heading_count(body[split], "sequences"))
        characters: set[int] = set()
        for line in body[1:split]:
            characters.update(_parse_run(line))
        sequences: list[tuple[int, int]] = []
        for line in body[split + 1 :]:
            base, *runs = line.split()
            base_cp = int(base, 16)
            sequences.extend((base_cp, vs) for run in runs for vs in _parse_run(run))
    except (IndexError, ValueError) as error:
        raise ValueError(f"{path} is damaged ({error}); build it again") from error
    if (len(characters), len(sequences)) != wanted:
        raise ValueError(
            f"{path} is damaged: {len(characters)} characters and {len(sequences)} sequences instead of "
            f"{wanted[0]} and {wanted[1]}; build it again"
        )
    return Repertoire(characters, sequences, source=source)


@functools.cache
def mj_repertoire() -> Repertoire:
    """The MJ repertoire generated at set-up (``DEFAULT_PATH``), loaded once per process."""
    try:
        return load_repertoire(DEFAULT_PATH)
    except FileNotFoundError as error:
        raise RepertoireNotGenerated(
            f"the MJ repertoire {DEFAULT_PATH} has not been generated: run "
            "`python -m madoguchi.moji.repertoire build` (it reads Debian's fonts-ipamj-mincho), "
            "or `make test` / `make demo`, which run it"
        ) from error


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``build [--font PATH] [--out PATH]`` writes the repertoire and prints its counts."""
    parser = argparse.ArgumentParser(
        prog="python -m madoguchi.moji.repertoire", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="generate the MJ repertoire file from IPAmj明朝")
    build.add_argument("--font", type=Path, default=DEFAULT_FONT, help=f"font file (default {DEFAULT_FONT})")
    build.add_argument("--out", type=Path, default=DEFAULT_PATH, help=f"output file (default {DEFAULT_PATH})")
    args = parser.parse_args(argv)
    if not args.font.is_file():
        print(
            f"{args.font} not found: install Debian's fonts-ipamj-mincho (apt-get install fonts-ipamj-mincho) "
            "or pass --font",
            file=sys.stderr,
        )
        return 1
    repertoire = build_repertoire(args.font)
    write_repertoire(repertoire, args.out)
    print(f"{args.out}: {repertoire.summary()} from {repertoire.source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
