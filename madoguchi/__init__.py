"""madoguchi: the project package (settings, urls, Celery app) and its cross-cutting pieces."""

from .celery import app as celery_app

__all__ = ["celery_app"]
