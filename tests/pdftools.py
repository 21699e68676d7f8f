"""Reading PDFs the way an operator would: poppler's pdffonts and pdftotext."""

import subprocess
from pathlib import Path


def pdf_fonts(path: Path) -> str:
    return subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout


def pdf_text(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def pdf_attachments(path: Path) -> str:
    """``pdfdetach -list``: the files embedded in the PDF."""
    return subprocess.run(
        ["pdfdetach", "-list", str(path)], capture_output=True, text=True, check=True
    ).stdout


def pdf_pages(path: Path) -> int:
    """The page count ``pdfinfo`` reports."""
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    return int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))


def pdf_qr_codes(path: Path, *, page: int, tmp: Path) -> list[str]:
    """The QR codes on ``page`` (1-based): ``pdftoppm`` makes an image, Debian's ``zbarimg`` reads it."""
    image = tmp / f"page-{page}"
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            "200",
            "-gray",
            "-png",
            "-singlefile",
            "-f",
            str(page),
            "-l",
            str(page),
            str(path),
            str(image),
        ],
        check=True,
    )
    result = subprocess.run(
        ["zbarimg", "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", f"{image}.png"],
        capture_output=True,
        text=True,
    )
    return [line for line in result.stdout.splitlines() if line]


def pdf_words(path: Path) -> list[tuple[str, float, float, int]]:
    """Every word with its top-left corner in millimetres and its page: ``pdftotext -bbox``."""
    import html
    import re

    out = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", "-bbox", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    words, page = [], 0
    for line in out.splitlines():
        if "<page " in line:
            page += 1
        match = re.search(
            r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="[\d.]+" yMax="[\d.]+">(.*)</word>', line
        )
        if match:
            x, y = (float(match.group(n)) * 25.4 / 72 for n in (1, 2))
            words.append((html.unescape(match.group(3)), x, y, page))
    return words
