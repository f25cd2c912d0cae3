from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("nudges/counts/", views.nudge_counts_view, name="nudge_counts"),
    path("nudges/<int:pk>/reset/", views.nudge_reset, name="nudge_reset"),
    path("people/", views.people, name="people"),
    path("people/<int:pk>/", views.person, name="person"),
    path("people/<int:pk>/notes/", views.person_notes, name="person_notes"),
    path("people/<int:pk>/merge/", views.person_merge, name="person_merge"),
    path("people/<int:pk>/split/", views.person_split, name="person_split"),
    path("people/<int:pk>/hide/", views.person_hide, name="person_hide"),
    path("settings/", views.settings_page, name="settings"),
    path("settings/export/", views.settings_export, name="settings_export"),
    path("settings/delete/", views.account_delete, name="account_delete"),
    path("sources/", views.sources, name="sources"),
    path("sources/upload/", views.upload_archive, name="upload_archive"),
    path("sources/<int:pk>/remove/", views.source_remove, name="source_remove"),
    path("jobs/<int:pk>/", views.job_detail, name="job"),
    path("jobs/<int:pk>/progress/", views.job_progress, name="job_progress"),
    # Connecting accounts, syncing and following (relationships/views/connect.py).
    path("", include("relationships.urls_connect")),
]
