"""The Sessions admin: a read-only list and detail page, search, and views that end sessions.

Session keys and their hashes are never shown; sessions are named by their row id. The list
shows every app's sessions (several projects may share the tables, each under its own
``APP_NAME``), but only this site's sessions are attributed to this site's users (see
``owners``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from django.contrib import admin, messages
from django.contrib.admin.utils import display_for_value
from django.contrib.admin.views.main import SEARCH_VAR, ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from dbsessions import api
from dbsessions.admin.actions import end_and_log, end_owner_sessions, end_selected_sessions
from dbsessions.admin.changelist import SessionChangeList, with_figures
from dbsessions.admin.filters import OwnerFilter, StatusFilter
from dbsessions.admin.key_search import key_search_redirect, session_id_of_key
from dbsessions.admin.owners import attach_owners, owner_label, principals_matching
from dbsessions.conf import app_settings
from dbsessions.dashboard import build_dashboard
from dbsessions.expressions import OctetLength
from dbsessions.keys import hash_key, is_plausible_key
from dbsessions.models import Attribute, Session
from dbsessions.redaction import display_value
from dbsessions.useragents import describe

DATA_PERMISSION = "dbsessions.view_session_data"


if TYPE_CHECKING:
    from dbsessions.admin.changelist import ListedSession
    from dbsessions.admin.owners import OwnedSession

    ModelAdmin = admin.ModelAdmin[Session]
else:  # generic in django-stubs only
    ModelAdmin = admin.ModelAdmin


class SessionAdmin(ModelAdmin):
    list_display = (
        "short_id",
        "owner_link",
        "app_name",
        "created_at",
        "last_access",
        "ends_if_unused",
        "status",
        "attribute_count",
        "size",
        "client_ip",
        "device",
    )
    list_display_links = ("short_id",)
    list_filter = (StatusFilter, "app_name", OwnerFilter)
    date_hierarchy = "last_access"
    ordering = ("-last_access", "-id")
    search_fields = ("principal",)  # shows the search box; get_search_results does the work
    search_help_text = (
        "Owner's username or email, or a session id. To find the session of a cookie's key, "
        "use the key form above: it posts the key, which keeps it out of URLs and logs."
    )
    fields = (
        "short_id",
        "owner_link",
        "app_name",
        "created_at",
        "last_access",
        "ends_if_unused",
        "status",
        "client_ip",
        "user_agent",
        "attribute_count",
        "size",
    )
    readonly_fields = fields
    actions = [end_selected_sessions, end_owner_sessions]
    change_list_template = "admin/dbsessions/session/change_list.html"
    change_form_template = "admin/dbsessions/session/change_form.html"
    list_per_page = 100

    # Data ------------------------------------------------------------------------------

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        return with_absolute_deadline(super().get_list_display(request))

    def get_fields(self, request: HttpRequest, obj: Session | None = None) -> list[Any]:
        return with_absolute_deadline(super().get_fields(request, obj))

    def get_readonly_fields(self, request: HttpRequest, obj: Session | None = None) -> list[Any]:
        return with_absolute_deadline(super().get_readonly_fields(request, obj))

    def get_queryset(self, request: HttpRequest) -> QuerySet[Session]:
        sessions: QuerySet[Session] = super().get_queryset(request)
        return with_figures(sessions.using(app_settings.DATABASE))

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        # Django allows URL filters on any local field; on key_hash, a prefix filter tried
        # one character at a time would read any session's hash.
        if lookup.split(LOOKUP_SEP, 1)[0] == "key_hash":
            return False
        return super().lookup_allowed(lookup, value, request)

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return SessionChangeList

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Session], search_term: str
    ) -> tuple[QuerySet[Session], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        matches = []
        if is_plausible_key(term):
            matches.append(Q(key_hash=hash_key(term)))
        principals = principals_matching(term)
        if principals:
            matches.append(Q(app_name=app_settings.APP_NAME, principal__in=principals))
        short_id = term.removeprefix("#")
        if short_id.isdigit():
            matches.append(Q(pk=int(short_id)))
        if not matches:
            return queryset.none(), False
        query = matches[0]
        for match in matches[1:]:
            query |= match
        return queryset.filter(query), False

    # Columns ---------------------------------------------------------------------------

    @admin.display(description="id", ordering="pk")
    def short_id(self, session: Session) -> str:
        return f"#{session.pk}"

    @admin.display(description="owner", ordering="principal")
    def owner_link(self, session: Session) -> str:
        # The list attached the owners of its page; the detail page shows one session.
        if hasattr(session, "owner"):
            owned = cast("OwnedSession", session)
        else:
            owned = attach_owners([session])[0]
        url = None if owned.owner is None else self._user_change_url(owned.owner)
        if url is None:
            return owner_label(owned)
        return format_html('<a href="{}">{}</a>', url, owned.owner)

    @admin.display(description="ends if unused", ordering="expires_at")
    def ends_if_unused(self, session: Session) -> str:
        return self._deadline(api.ends_if_unused(session))

    # Sorting by creation is sorting by absolute deadline: the timeout is the same for all.
    @admin.display(description="ends at the latest", ordering="created_at")
    def ends_at_latest(self, session: Session) -> str:
        return self._deadline(api.ends_at_latest(session))

    def _deadline(self, value: datetime | None) -> str:
        # Formatted as the admin formats a date field, on the list and on the session's page
        # alike (a readonly method's datetime would show raw there).
        if value is None:
            return self.get_empty_value_display()
        return format_html(
            '<time class="nowrap" datetime="{}">{}</time>',
            value.isoformat(),
            display_for_value(value, self.get_empty_value_display()),
        )

    @admin.display(description="status", ordering="expires_at")
    def status(self, session: Session) -> str:
        return "active" if session.expires_at > timezone.now() else "expired"

    @admin.display(description="attributes", ordering="attribute_count")
    def attribute_count(self, session: ListedSession) -> int:
        return session.attribute_count

    @admin.display(description="size (bytes)", ordering="value_bytes")
    def size(self, session: ListedSession) -> int:
        return session.value_bytes

    @admin.display(description="client", ordering="user_agent")
    def device(self, session: Session) -> str:
        if not session.user_agent:
            return "-"
        return format_html(
            '<span title="{}">{}</span>', session.user_agent, describe(session.user_agent)
        )

    def _user_change_url(self, user: Any) -> str | None:
        if not self.admin_site.is_registered(type(user)):
            return None
        opts = user._meta
        try:
            return reverse(
                f"admin:{opts.app_label}_{opts.model_name}_change",
                args=[user.pk],
                current_app=self.admin_site.name,
            )
        except NoReverseMatch:
            return None

    # Permissions: look and end, never add or edit ----------------------------------------

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Session | None = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest, action_location: Any = None) -> dict[str, Any]:
        # Django 6.1 passes where the actions are shown; 5.2 knows no such argument.
        kwargs = {} if action_location is None else {"action_location": action_location}
        actions = super().get_actions(request, **kwargs)
        # Replaced by end_selected_sessions, which locks rows as the engine does.
        actions.pop("delete_selected", None)
        return actions

    def delete_model(self, request: HttpRequest, obj: Session) -> None:
        api.end_sessions([obj.pk])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Session]) -> None:
        api.end_sessions(queryset.values_list("pk", flat=True))

    # Pages -----------------------------------------------------------------------------

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # Before any lookup: staff who may not see sessions must not learn which keys exist.
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        redirect = key_search_redirect(request)
        if redirect is not None:
            return redirect
        extra_context = {**(extra_context or {}), "dashboard": build_dashboard()}
        return super().changelist_view(request, extra_context)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "attributes": self._attribute_rows(request, object_id),
            "can_view_data": request.user.has_perm(DATA_PERMISSION),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def _attribute_rows(self, request: HttpRequest, object_id: str) -> list[dict[str, Any]]:
        try:
            session_id = int(object_id)
        except ValueError:
            return []
        rows = (
            Attribute.objects.using(app_settings.DATABASE)
            .filter(session_id=session_id)
            .annotate(size=OctetLength("value"))
            .order_by("name")
        )
        if not request.user.has_perm(DATA_PERMISSION):
            return list(rows.values("name", "size"))
        return [
            # bytes(): a memoryview on PostgreSQL; display_value() takes bytes.
            {
                "name": row.name,
                "size": row.size,
                "value": display_value(row.name, bytes(row.value)),
            }
            for row in rows
        ]

    # Views behind the key form and the user page's button ------------------------------

    def get_urls(self) -> list[URLPattern]:
        def post_only(view: Any) -> Any:
            return self.admin_site.admin_view(require_POST(view))

        return [
            path(
                "end-user-sessions/<str:principal>/",
                post_only(self.end_user_sessions_view),
                name="dbsessions_session_end_user_sessions",
            ),
            path(
                "find-by-key/",
                post_only(self.find_by_key_view),
                name="dbsessions_session_find_by_key",
            ),
            *super().get_urls(),
        ]

    def _changelist_url(self) -> str:
        return reverse("admin:dbsessions_session_changelist", current_app=self.admin_site.name)

    def find_by_key_view(self, request: HttpRequest) -> HttpResponseBase:
        """Show the session of a key pasted from a cookie, listed by its id.

        The key arrives in a POST body, so it never appears in a URL, a browser's history or
        a server's access log; only its hash is looked up.
        """
        if not self.has_view_permission(request):
            raise PermissionDenied
        changelist = self._changelist_url()
        session_id = session_id_of_key(request.POST.get("key", "").strip())
        if session_id is None:
            messages.warning(request, "No session has that key.")
            return HttpResponseRedirect(changelist)
        return HttpResponseRedirect(f"{changelist}?{SEARCH_VAR}=%23{session_id}")

    def end_user_sessions_view(self, request: HttpRequest, principal: str) -> HttpResponseBase:
        """End every session of one user in this app: the button on the user's page."""
        if not self.has_delete_permission(request):
            raise PermissionDenied
        ids = list(
            Session.objects.using(app_settings.DATABASE)
            .filter(app_name=app_settings.APP_NAME, principal=principal)
            .values_list("pk", flat=True)
        )
        end_and_log(self, request, ids)
        target = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            target = self._changelist_url()
        return HttpResponseRedirect(target)


def with_absolute_deadline(names: Sequence[Any]) -> list[Any]:
    """``names`` with the absolute deadline after the idle one, where ``ABSOLUTE_TIMEOUT`` is
    set (a session has no absolute deadline without it)."""
    listed = list(names)
    if app_settings.ABSOLUTE_TIMEOUT is not None and "ends_if_unused" in listed:
        listed.insert(listed.index("ends_if_unused") + 1, "ends_at_latest")
    return listed
