"""App configs: ``dbsessions`` (the default) and ``SimpleDbSessionsConfig`` (an opt-out).

As with Django's ``AdminConfig`` and ``SimpleAdminConfig``, the default one also changes
another app: it adds the sessions panel to the user admin. Everything is wired here, in
``ready()``; importing a module of the package connects and registers nothing.
"""

from importlib.util import find_spec

from django.apps import AppConfig, apps
from django.conf import settings
from django.core import checks
from django.db.models.signals import post_save

from dbsessions.conf import app_settings

PASSWORD_RECEIVER_UID = "dbsessions-password"


class SimpleDbSessionsConfig(AppConfig):
    """dbsessions without the sessions panel on the user's admin page.

    Put ``"dbsessions.apps.SimpleDbSessionsConfig"`` in ``INSTALLED_APPS`` instead of
    ``"dbsessions"`` to leave the user admin as it is; ``dbsessions.admin.extend_user_admin``
    can still add the panel to a site of your choice.
    """

    name = "dbsessions"
    verbose_name = "Sessions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dbsessions.api import end_sessions_on_password_change
        from dbsessions.checks import check_cluster, check_session_cache, check_settings

        post_save.connect(
            end_sessions_on_password_change,
            sender=settings.AUTH_USER_MODEL,
            dispatch_uid=PASSWORD_RECEIVER_UID,
        )
        checks.register(check_settings)
        checks.register(check_session_cache)
        checks.register(check_cluster, checks.Tags.database)
        if app_settings.PROMETHEUS and find_spec("prometheus_client") is not None:
            from dbsessions.prometheus import register

            register()  # without prometheus_client, check dbsessions.E013 says so


class DbSessionsConfig(SimpleDbSessionsConfig):
    """The default: also adds the sessions panel to the user admin of every admin site."""

    default = True

    def ready(self) -> None:
        """Wire the package, then add the sessions panel to the sites' user admins.

        Only with ``django.contrib.admin``'s default ``AdminConfig``, which imports every
        app's ``admin`` module: ``autodiscover()`` is called first, which imports nothing new
        when the admin's ``ready()`` ran before this one and otherwise registers the user
        admins now, whatever the order of ``INSTALLED_APPS``. Then the user model's admin of
        each site made so far (``django.contrib.admin.sites.all_sites``: ``admin.site`` and
        sites made by the imported modules) gets the panel. With ``SimpleAdminConfig`` the
        project sets up its sites itself, after this: it calls
        ``dbsessions.admin.extend_user_admin(site)`` where it wants the panel, as it does for
        a site made later, e.g. in a URLconf.
        """
        super().ready()
        if not apps.is_installed("django.contrib.admin"):
            return
        from django.contrib.admin import autodiscover
        from django.contrib.admin.apps import AdminConfig

        if not isinstance(apps.get_app_config("admin"), AdminConfig):
            return
        autodiscover()
        from dbsessions.admin import extend_user_admins

        extend_user_admins()
