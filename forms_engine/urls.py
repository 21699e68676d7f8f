from django.urls import path

from . import views

app_name = "forms_engine"
version = "<slug:code>/v<int:number>/"
urlpatterns = [
    path("", views.index, name="index"),
    path("create", views.template_create, name="template_create"),
    path("import", views.template_import, name="template_import"),
    path("dictionary/", views.dictionary, name="dictionary"),
    path("<slug:code>/", views.template_detail, name="template"),
    path("<slug:code>/versions", views.draft_create, name="draft_create"),
    path("<slug:code>/export", views.template_export, name="template_export"),
    path(version, views.version_basic, name="version"),
    path(version + "export", views.template_export, name="version_export"),
    path(version + "fields/", views.version_fields, name="version_fields"),
    path(version + "fields/add", views.version_field_add, name="version_field_add"),
    path(version + "fields/local", views.version_field_local, name="version_field_local"),
    path(version + "fields/<slug:key>/edit", views.version_field_edit, name="version_field_edit"),
    path(version + "fields/<slug:key>/remove", views.version_field_remove, name="version_field_remove"),
    path(version + "fields/<slug:key>/move", views.version_field_move, name="version_field_move"),
    path(version + "layout/", views.version_layout, name="version_layout"),
    path(version + "layout/flow", views.version_layout_flow, name="version_layout_flow"),
    path(version + "layout.json", views.version_layout_save, name="version_layout_save"),
    path(version + "pages/add", views.version_page_add, name="version_page_add"),
    path(version + "pages/<int:page>/remove", views.version_page_remove, name="version_page_remove"),
    path(
        version + "pages/<int:page>/background", views.version_page_background, name="version_page_background"
    ),
    path(version + "assets/<str:name>", views.version_asset, name="version_asset"),
    path(version + "csv/", views.version_csv, name="version_csv"),
    path(version + "check/", views.version_check, name="version_check"),
    path(version + "preview.pdf", views.version_preview, name="version_preview"),
    path(version + "publish", views.version_publish, name="version_publish"),
    path(version + "delete", views.version_delete, name="version_delete"),
]
