"""Statistics for supervisors, under /counters/stats/ (namespace ``stats``)."""

from django.urls import path, re_path

from . import views_stats

app_name = "stats"
DAY = r"(?P<day>\d{4}-\d{2}-\d{2})"
MONTH = r"(?P<year>\d{4})/(?P<month>\d{2})"
urlpatterns = [
    path("", views_stats.today, name="today"),
    re_path(rf"^day/{DAY}/$", views_stats.day, name="day"),
    re_path(rf"^day/{DAY}\.csv$", views_stats.day_csv, name="day_csv"),
    re_path(rf"^day/{DAY}/board\.csv$", views_stats.board_csv, name="board_csv"),
    re_path(rf"^month/{MONTH}/$", views_stats.month, name="month"),
    re_path(rf"^month/{MONTH}\.csv$", views_stats.month_csv, name="month_csv"),
]
