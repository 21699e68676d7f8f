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
