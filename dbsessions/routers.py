"""Route the session models to ``DBSESSIONS["DATABASE"]``."""

from typing import TYPE_CHECKING, Any

from dbsessions.conf import app_settings

if TYPE_CHECKING:
    from django.db.models import Model

APP_LABEL = "dbsessions"


class SessionRouter:
    """Send every read, write and migration of this app to the sessions database."""

    def db_for_read(self, model: "type[Model]", **hints: Any) -> str | None:
        if model._meta.app_label == APP_LABEL:
            return app_settings.DATABASE
        return None

    db_for_write = db_for_read

    def allow_relation(self, obj1: "Model", obj2: "Model", **hints: Any) -> bool | None:
        labels = {obj1._meta.app_label, obj2._meta.app_label}
        if labels == {APP_LABEL}:
            return True
        return None

    def allow_migrate(
        self, db: str, app_label: str, model_name: str | None = None, **hints: Any
    ) -> bool | None:
        if app_label == APP_LABEL:
            return db == app_settings.DATABASE
        return None
