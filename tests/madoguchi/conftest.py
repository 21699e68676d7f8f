"""Fixtures of the MJ+ text library: the MJ repertoire built from the installed IPAmj明朝, so that tests do not
depend on the set-up step that writes madoguchi/moji/generated/."""

from pathlib import Path

import pytest

from madoguchi.moji.repertoire import (
    DEFAULT_FONT,
    Repertoire,
    build_repertoire,
    load_repertoire,
    write_repertoire,
)


@pytest.fixture(scope="session")
def repertoire_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repertoire written from Debian's fonts-ipamj-mincho into a temporary file."""
    if not DEFAULT_FONT.is_file():
        pytest.fail(f"{DEFAULT_FONT} is missing: install fonts-ipamj-mincho (make test does)")
    path = tmp_path_factory.mktemp("moji") / "mj-repertoire.txt"
    write_repertoire(build_repertoire(DEFAULT_FONT), path)
    return path


@pytest.fixture(scope="session")
def mj(repertoire_file: Path) -> Repertoire:
    """The MJ repertoire as the application reads it: loaded from the generated file."""
    return load_repertoire(repertoire_file)
