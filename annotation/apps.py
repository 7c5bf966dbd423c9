from django.apps import AppConfig


class AnnotationConfig(AppConfig):
    name = "annotation"

    def ready(self) -> None:
        # Connects the receivers that drop kept turns when one is edited in the admin.
        from annotation import turns  # noqa: F401
