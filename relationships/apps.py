from django.apps import AppConfig


class RelationshipsConfig(AppConfig):
    name = "relationships"
    verbose_name = "Relationships"

    def ready(self):
        from relationships import checks, signals  # noqa: F401  (registers system checks and signal handlers)
        from relationships.web import page_cache  # noqa: F401  (receives services.changes.user_data_changed)
