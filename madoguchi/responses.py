"""HTTP responses shared by the apps' views."""

from django.http import HttpResponse


def inline_pdf(pdf: bytes, *, filename: str) -> HttpResponse:
    """A PDF shown in the browser and never cached: it holds a resident's data."""
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
