from django.urls import path

from . import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("people/", views.people, name="people"),
    path("jobs/<int:pk>/", views.job_detail, name="job"),
]
