from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("people/", views.people, name="people"),
    path("sources/", views.sources, name="sources"),
    path("sources/upload/", views.upload_archive, name="upload_archive"),
    path("sources/<int:pk>/remove/", views.source_remove, name="source_remove"),
    path("jobs/<int:pk>/", views.job_detail, name="job"),
    path("jobs/<int:pk>/progress/", views.job_progress, name="job_progress"),
    # Connecting accounts, syncing and following (relationships/views/connect.py).
    path("", include("relationships.urls_connect")),
]
