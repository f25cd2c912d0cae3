"""Connecting accounts, syncing them and acting on nudges (relationships/views/connect.py)."""

from django.urls import path

from .views import connect

urlpatterns = [
    path("connect/mastodon/", connect.connect_mastodon, name="connect_mastodon"),
    path("connect/mastodon/callback/", connect.connect_mastodon_callback, name="connect_mastodon_callback"),
    path("connect/bluesky/", connect.connect_bluesky, name="connect_bluesky"),
    path("sources/<int:pk>/sync/", connect.source_sync, name="source_sync"),
    path("nudges/<int:pk>/follow/", connect.nudge_follow, name="nudge_follow"),
    path("nudges/<int:pk>/follow/confirm/", connect.nudge_follow_confirm, name="nudge_follow_confirm"),
    path("nudges/<int:pk>/snooze/", connect.nudge_snooze, name="nudge_snooze"),
    path("nudges/<int:pk>/dismiss/", connect.nudge_dismiss, name="nudge_dismiss"),
    path("nudges/<int:pk>/undo/", connect.nudge_undo, name="nudge_undo"),
]
