from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        from accounts import services
        from accounts.models import ExpertiseTag

        for signal in (post_save, post_delete):
            signal.connect(
                services.forget_expertise_names,
                sender=ExpertiseTag,
                dispatch_uid=f"forget-expertise-names-{signal is post_save}",
            )
