from django.apps import AppConfig


class DbSessionsConfig(AppConfig):
    name = "dbsessions"
    verbose_name = "Sessions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dbsessions import (
            api,  # noqa: F401  (connects the password-change receiver)
            checks,  # noqa: F401  (registers the system checks)
        )
