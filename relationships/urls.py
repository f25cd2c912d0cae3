from django.urls import path

from relationships import views
from relationships.views import connect, lists, review

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("nudges/counts/", views.nudge_counts_view, name="nudge_counts"),
    path("nudges/<int:pk>/reset/", views.nudge_reset, name="nudge_reset"),
    path("people/", views.people, name="people"),
    path("people/merges/", views.suggested_merges, name="merge_suggestions"),
    path("people/<int:pk>/", views.person, name="person"),
    path("people/<int:pk>/notes/", views.person_notes, name="person_notes"),
    path("people/<int:pk>/merge/", views.person_merge, name="person_merge"),
    path("people/<int:pk>/not-same/", views.person_not_same, name="person_not_same"),
    path("people/<int:pk>/split/", views.person_split, name="person_split"),
    path("people/<int:pk>/hide/", views.person_hide, name="person_hide"),
    # Review your follows, one person at a time (relationships/views/review.py).
    path("review/", review.review, name="review"),
    path("review/<int:pk>/keep/", review.review_keep, name="review_keep"),
    path("review/<int:pk>/quieter/", review.review_quieter, name="review_quieter"),
    path("review/<int:pk>/unfollow/", review.review_unfollow, name="review_unfollow"),
    path("review/<int:pk>/undo/", review.review_undo, name="review_undo"),
    path("review/<int:pk>/skip/", review.review_skip, name="review_skip"),
    path("settings/", views.settings_page, name="settings"),
    path("settings/export/", views.settings_export, name="settings_export"),
    path("settings/delete/", views.account_delete, name="account_delete"),
    path("sources/", views.sources, name="sources"),
    path("sources/upload/", views.upload_archive, name="upload_archive"),
    path("sources/<int:pk>/remove/", views.source_remove, name="source_remove"),
    path("jobs/<int:pk>/", views.job_detail, name="job"),
    path("jobs/<int:pk>/progress/", views.job_progress, name="job_progress"),
    # Connecting accounts, syncing and acting on nudges (relationships/views/connect.py).
    path("connect/mastodon/", connect.connect_mastodon, name="connect_mastodon"),
    path("connect/mastodon/callback/", connect.connect_mastodon_callback, name="connect_mastodon_callback"),
    path("connect/bluesky/", connect.connect_bluesky, name="connect_bluesky"),
    path("sources/<int:pk>/sync/", connect.source_sync, name="source_sync"),
    path("nudges/<int:pk>/follow/", connect.nudge_follow, name="nudge_follow"),
    path("nudges/<int:pk>/follow/confirm/", connect.nudge_follow_confirm, name="nudge_follow_confirm"),
    path("nudges/<int:pk>/snooze/", connect.nudge_snooze, name="nudge_snooze"),
    path("nudges/<int:pk>/dismiss/", connect.nudge_dismiss, name="nudge_dismiss"),
    path("nudges/<int:pk>/undo/", connect.nudge_undo, name="nudge_undo"),
    # Lists instead of follows, notes that travel, known followers (relationships/views/lists.py).
    path("nudges/<int:pk>/list/", lists.nudge_list, name="nudge_list"),
    path("people/<int:pk>/list/", lists.person_list, name="person_list"),
    path("people/<int:pk>/list/<int:attempt>/undo/", lists.person_list_undo, name="person_list_undo"),
    path("people/<int:pk>/note/push/", lists.person_note_push, name="person_note_push"),
    path("people/<int:pk>/known-followers/", lists.person_known, name="person_known"),
]
