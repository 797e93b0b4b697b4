from django.apps import AppConfig


class MatchingConfig(AppConfig):
    name = "matching"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # `users` cannot import matching (import order users <- activities <- matching): it sends signals
        # and matching subscribes to them here.
        from matching import receivers
        from users import signals

        signals.location_changed.connect(
            receivers.features_refresh_on_location_changed, dispatch_uid="matching.features.location"
        )
        signals.person_features_changed.connect(
            receivers.features_refresh_on_person_features_changed, dispatch_uid="matching.features.person"
        )
