from django.contrib import admin

from relationships.models import (
    ArchiveFile,
    CommunityHeadline,
    CommunitySnapshot,
    FollowAttempt,
    FollowReview,
    Heartbeat,
    Identity,
    Interaction,
    InteractionSource,
    Job,
    MastodonApp,
    MergedPerson,
    NotSamePerson,
    Nudge,
    Person,
    Preferences,
    Rapport,
    Source,
)


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "platform", "kind", "handle", "state", "last_synced_at")
    list_filter = ("platform", "kind", "state")
    search_fields = ("handle", "label", "user__username")
    # Stored credentials are never shown, not even as ciphertext.
    exclude = ("credentials_ciphertext",)
    readonly_fields = ("cursors", "counts", "account_external_id", "sync_claimed_until")


@admin.register(ArchiveFile)
class ArchiveFileAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "source", "name", "kind", "added_at")
    list_filter = ("kind",)
    search_fields = ("name", "user__username")
    raw_id_fields = ("source", "job")


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "name", "hidden", "created_at")
    search_fields = ("name", "user__username")
    list_filter = ("hidden",)


@admin.register(MergedPerson)
class MergedPersonAdmin(admin.ModelAdmin):
    list_display = ("merged_id", "person", "user", "merged_at")
    search_fields = ("user__username",)
    raw_id_fields = ("person",)


@admin.register(Identity)
class IdentityAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "platform", "handle", "external_id", "i_follow", "follows_me")
    list_filter = ("platform", "i_follow", "follows_me")
    search_fields = ("handle", "external_id", "display_name")
    raw_id_fields = ("person",)


@admin.register(Interaction)
class InteractionAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "platform", "kind", "direction", "identity", "occurred_at")
    list_filter = ("platform", "kind", "direction")
    raw_id_fields = ("identity",)
    date_hierarchy = "occurred_at"


@admin.register(Rapport)
class RapportAdmin(admin.ModelAdmin):
    list_display = ("person", "user", "tier", "score", "talks", "last_interaction_at")
    list_filter = ("tier",)
    raw_id_fields = ("person",)


@admin.register(Nudge)
class NudgeAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "person", "kind", "state", "snoozed_until", "opened_on")
    list_filter = ("kind", "state")
    raw_id_fields = ("person",)


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "kind", "state", "progress_done", "progress_total", "created_at", "finished_at")
    list_filter = ("kind", "state")
    readonly_fields = ("task_name", "task_kwargs", "counts", "checkpoint")


admin.site.register(Preferences)
admin.site.register(Heartbeat)


@admin.register(MastodonApp)
class MastodonAppAdmin(admin.ModelAdmin):
    list_display = ("base_url", "redirect_uri", "created_at")
    # The client secret is stored encrypted and never shown.
    exclude = ("secret_ciphertext",)
    readonly_fields = ("base_url", "redirect_uri", "client_id")


@admin.register(FollowAttempt)
class FollowAttemptAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "person", "platform", "state", "manual")
    list_filter = ("platform", "state")
    raw_id_fields = ("person", "identity", "nudge")


@admin.register(InteractionSource)
class InteractionSourceAdmin(admin.ModelAdmin):
    list_display = ("interaction", "source")
    raw_id_fields = ("interaction", "source")


admin.site.register(CommunitySnapshot)
admin.site.register(CommunityHeadline)


@admin.register(FollowReview)
class FollowReviewAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "person", "decision", "decided_at", "show_again_at")
    list_filter = ("decision",)
    raw_id_fields = ("person", "identity", "source")


@admin.register(NotSamePerson)
class NotSamePersonAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "first", "second")
    raw_id_fields = ("first", "second")
