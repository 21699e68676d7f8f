from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("healthz", healthz),
    path("accounts/", include("madoguchi.accounts.urls")),
    path("audit/", include("madoguchi.audit.urls")),
    path("staff/", include("madoguchi.accounts.staff_urls")),
    path("admin/", admin.site.urls),
    path("devices/", include("devices.urls")),
    path("forms/", include("forms_engine.urls")),
    path("tablet/", include("counters.tablet_urls")),
    path("counters/stats/", include("counters.stats_urls")),
    path("counters/navigation/", include("counters.navigation_urls")),
    path("", include("counters.urls")),
]
