"""The sessions panel on a user's admin page: the user's active sessions in this
``APP_NAME``, a link to them and a button that ends them all.

The button posts to ``SessionAdmin.end_user_sessions_view`` of the same admin site, and the
panel shows only where that site registers the Session admin and the viewer may see it.
``DbSessionsConfig.ready()`` adds the panel to the user admins of the sites that exist then;
``extend_user_admin()`` adds it to a site made later.
"""

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.admin.exceptions import NotRegistered
from django.contrib.admin.sites import AdminSite, all_sites
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.template.loader import select_template
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from dbsessions.conf import app_settings
from dbsessions.models import Session

if TYPE_CHECKING:
    ModelAdmin = admin.ModelAdmin[Any]
else:  # generic in django-stubs only
    ModelAdmin = admin.ModelAdmin


class UserSessionsMixin(ModelAdmin):
    """Adds the sessions panel to the user's change page.

    Put it before your own ``UserAdmin`` in its bases, or let ``extend_user_admin()`` do so.
    """

    change_form_template = "admin/dbsessions/user_change_form.html"

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra_context = {**(extra_context or {}), **self._sessions_panel(request, object_id)}
        return super().change_view(request, object_id, form_url, extra_context)

    def render_change_form(
        self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any
    ) -> HttpResponse:
        # Our template extends the change form Django would have picked for the user model.
        opts = self.opts
        context["dbsessions_base_template"] = select_template(
            [
                f"admin/{opts.app_label}/{opts.model_name}/change_form.html",
                f"admin/{opts.app_label}/change_form.html",
                "admin/change_form.html",
            ]
        ).template.name
        return super().render_change_form(request, context, *args, **kwargs)

    def _sessions_panel(self, request: HttpRequest, object_id: str) -> dict[str, Any]:
        try:
            session_admin = self.admin_site.get_model_admin(Session)
        except NotRegistered:
            return {}
        if not session_admin.has_view_permission(request):
            return {}
        app_name = app_settings.APP_NAME
        active = (
            Session.objects.using(app_settings.DATABASE)
            .filter(app_name=app_name, principal=str(object_id), expires_at__gt=timezone.now())
            .count()
        )
        site = self.admin_site.name
        changelist = reverse("admin:dbsessions_session_changelist", current_app=site)
        query = urlencode({"status": "active", "app_name": app_name, "principal": object_id})
        end_url = reverse(
            "admin:dbsessions_session_end_user_sessions", args=[str(object_id)], current_app=site
        )
        return {
            "dbsessions_user_sessions": {
                "active": active,
                "app_name": app_name,
                "list_url": f"{changelist}?{query}",
                "end_url": end_url,
                "can_end": session_admin.has_delete_permission(request),
                "next": request.get_full_path(),
            }
        }


def extend_user_admin(site: AdminSite) -> None:
    """Add the sessions panel to the user admin registered on ``site``, if there is one.

    The registered class is replaced by a subclass with ``UserSessionsMixin`` first, so a
    project's own user admin keeps everything else. Harmless to repeat: an admin that has
    the panel already is left as it is.
    """
    user_model = get_user_model()
    if not site.is_registered(user_model):
        return
    cls = type(site.get_model_admin(user_model))
    if issubclass(cls, UserSessionsMixin):
        return
    extended = type(cls.__name__, (UserSessionsMixin, cls), {"__module__": cls.__module__})
    site.unregister(user_model)
    site.register(user_model, extended)


def extend_user_admins() -> None:
    """Add the sessions panel to the user admin of every admin site made so far."""
    for site in list(all_sites):
        extend_user_admin(site)
