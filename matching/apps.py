from django.apps import AppConfig


class MatchingConfig(AppConfig):
    name = "matching"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        import torch
        from django.conf import settings

        # Before any model runs here (see settings.VICINO_TORCH_THREADS); the train_* commands reset it.
        torch.set_num_threads(max(1, settings.VICINO_TORCH_THREADS))
        # `users` cannot import matching (import order users <- activities <- matching): it sends signals
        # and matching subscribes to them here.
        from django.db.models.signals import post_delete, post_save

        from matching import receivers
        from users import signals
        from users.models import Location, User

        signals.location_changed.connect(
            receivers.features_refresh_on_location_changed, dispatch_uid="matching.features.location"
        )
        signals.person_features_changed.connect(
            receivers.features_refresh_on_person_features_changed, dispatch_uid="matching.features.person"
        )
        signals.location_changed.connect(
            receivers.nearby_rosters_forget_on_location_changed, dispatch_uid="matching.nearby.location"
        )
        signals.person_features_changed.connect(
            receivers.nearby_rosters_forget_on_person_features_changed, dispatch_uid="matching.nearby.person"
        )
        post_save.connect(
            receivers.nearby_rosters_forget_on_user_saved, sender=User, dispatch_uid="matching.nearby.user"
        )
        post_delete.connect(
            receivers.nearby_rosters_forget_on_location_deleted,
            sender=Location,
            dispatch_uid="matching.nearby.gone",
        )
