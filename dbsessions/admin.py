"""Django admin for live sessions: read only, with actions that end sessions.

Sessions may live on another database than users (``DBSESSIONS["DATABASE"]``), so owners are
never joined in SQL: matching users are looked up on their own database first, and the owners
of a page of sessions are fetched in one query. Session keys and their hashes are never shown.

Several projects may share the tables, each under its own ``APP_NAME``. The list shows every
app's sessions, but only this site's sessions are attributed to this site's users: another
app's principal is another project's user, whatever pk they share. Ending "all sessions of a
user" therefore ends only this app's sessions of that user.
"""

from typing import Any

from django.apps import apps
from django.contrib import admin, messages
from django.contrib.admin.views.main import SEARCH_VAR, ChangeList
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.db.models import BigIntegerField, Count, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.constants import LOOKUP_SEP
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import select_template
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_POST

from dbsessions import api
from dbsessions.conf import app_settings
from dbsessions.dashboard import build_dashboard
from dbsessions.expressions import OctetLength
from dbsessions.keys import hash_key, is_plausible_key
from dbsessions.models import Attribute, Session
from dbsessions.redaction import display_value
from dbsessions.useragents import describe

#: Owners matched by a search term; more would make a long IN list on every vendor.
MAX_SEARCH_OWNERS = 500
DATA_PERMISSION = "dbsessions.view_session_data"


def owners_by_principal(principals: set[str]) -> dict[str, Any]:
    """The users behind ``principal`` values, in one query on the users' database."""
    user_model = get_user_model()
    pks = []
    for principal in principals:
        try:
            pks.append(user_model._meta.pk.to_python(principal))
        except ValidationError:
            continue
    if not pks:
        return {}
    return {str(user.pk): user for user in user_model._default_manager.filter(pk__in=pks)}


def attach_owners(sessions: list[Session]) -> None:
    """Set each session's ``owner``: the user of this site it belongs to, or None.

    One query for all of them. Only this app's sessions have an owner here: another app's
    principal is another project's user.
    """
    app_name = app_settings.APP_NAME
    owners = owners_by_principal(
        {s.principal for s in sessions if s.principal and s.app_name == app_name}
    )
    for session in sessions:
        ours = session.app_name == app_name and session.principal is not None
        session.owner = owners.get(session.principal) if ours else None


def owner_label(session: Session) -> str:
    """Who ``session`` (its ``owner`` attached) belongs to, in words."""
    if not session.principal:
        return "anonymous"
    if session.app_name != app_settings.APP_NAME:
        return f"user {session.principal} of {session.app_name}"
    if session.owner is None:
        return f"deleted user {session.principal}"
    return str(session.owner)


def session_id_of_key(key: str) -> int | None:
    """The row id of the session whose key is ``key`` (any app name), or None."""
    if not is_plausible_key(key):
        return None
    return (
        Session.objects.using(app_settings.DATABASE)
        .filter(key_hash=hash_key(key))
        .values_list("pk", flat=True)
        .first()
    )


def principals_matching(term: str) -> list[str]:
    """Principals of users whose username or email contains ``term``."""
    user_model = get_user_model()
    query = Q(**{f"{user_model.USERNAME_FIELD}__icontains": term})
    email_field = user_model.get_email_field_name()
    try:
        user_model._meta.get_field(email_field)
        query |= Q(**{f"{email_field}__icontains": term})
    except FieldDoesNotExist:
        pass
    pks = user_model._default_manager.filter(query).values_list("pk", flat=True)
    return [str(pk) for pk in pks[:MAX_SEARCH_OWNERS]]


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "Active"), ("expired", "Expired")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet | None:
        if self.value() == "active":
            return queryset.filter(expires_at__gt=timezone.now())
        if self.value() == "expired":
            return queryset.filter(expires_at__lte=timezone.now())
        return None


class OwnerFilter(admin.SimpleListFilter):
    title = "owner"
    parameter_name = "has_owner"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "With owner"), ("no", "Anonymous")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet | None:
        if self.value() in ("yes", "no"):
            return queryset.filter(principal__isnull=self.value() == "no")
        return None


class SessionChangeList(ChangeList):
    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        # The page's ids first, then its rows with their attribute figures: a deep page
        # (a large OFFSET) then skips rows without computing their figures.
        ids = list(self.result_list.values_list("pk", flat=True))
        rows = self.model_admin.get_queryset(request).in_bulk(ids)
        page = [rows[pk] for pk in ids if pk in rows]
        attach_owners(page)
        self.result_list = page


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    list_display = (
        "short_id",
        "owner_link",
        "app_name",
        "created_at",
        "last_access",
        "expires_at",
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
        "expires_at",
        "status",
        "client_ip",
        "user_agent",
        "attribute_count",
        "size",
    )
    readonly_fields = fields
    actions = ["end_selected_sessions", "end_owner_sessions"]
    change_list_template = "admin/dbsessions/session/change_list.html"
    change_form_template = "admin/dbsessions/session/change_form.html"
    list_per_page = 100

    # Data ------------------------------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet[Session]:
        attributes = Attribute.objects.filter(session=OuterRef("pk")).order_by().values("session")
        # Correlated subqueries, not a JOIN + GROUP BY: the database computes them only for
        # the rows of the page, and count queries drop them.
        return (
            super()
            .get_queryset(request)
            .using(app_settings.DATABASE)
            .annotate(
                attribute_count=Coalesce(
                    Subquery(attributes.annotate(n=Count("pk")).values("n")), 0
                ),
                value_bytes=Coalesce(
                    Subquery(
                        attributes.annotate(n=Sum(OctetLength("value"))).values("n"),
                        output_field=BigIntegerField(),
                    ),
                    0,
                ),
            )
        )

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        # Django allows URL filters on any local field; on key_hash, a prefix filter tried
        # one character at a time would read any session's hash.
        if lookup.split(LOOKUP_SEP, 1)[0] == "key_hash":
            return False
        return super().lookup_allowed(lookup, value, request)

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return SessionChangeList

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
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
        if not hasattr(session, "owner"):  # the detail page, which shows one session
            attach_owners([session])
        url = None if session.owner is None else self._user_change_url(session.owner)
        if url is None:
            return owner_label(session)
        return format_html('<a href="{}">{}</a>', url, session.owner)

    @admin.display(description="status", ordering="expires_at")
    def status(self, session: Session) -> str:
        return "active" if session.expires_at > timezone.now() else "expired"

    @admin.display(description="attributes", ordering="attribute_count")
    def attribute_count(self, session: Session) -> int:
        return session.attribute_count

    @admin.display(description="size (bytes)", ordering="value_bytes")
    def size(self, session: Session) -> int:
        return session.value_bytes

    @admin.display(description="client", ordering="user_agent")
    def device(self, session: Session) -> str:
        if not session.user_agent:
            return "-"
        return format_html(
            '<span title="{}">{}</span>', session.user_agent, describe(session.user_agent)
        )

    def _user_change_url(self, user: Any) -> str | None:
        if type(user) not in self.admin_site._registry:
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

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest, action_location: Any = None) -> dict:
        # Django 6.1 passes where the actions are shown; 5.2 knows no such argument.
        kwargs = {} if action_location is None else {"action_location": action_location}
        actions = super().get_actions(request, **kwargs)
        # Replaced by end_selected_sessions, which locks rows as the engine does.
        actions.pop("delete_selected", None)
        return actions

    def delete_model(self, request: HttpRequest, obj: Session) -> None:
        api.end_sessions([obj.pk])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        api.end_sessions(queryset.values_list("pk", flat=True))

    # Pages -----------------------------------------------------------------------------

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> Any:
        # Before any lookup: staff who may not see sessions must not learn which keys exist.
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        redirect = self._key_search_redirect(request)
        if redirect is not None:
            return redirect
        extra_context = {**(extra_context or {}), "dashboard": build_dashboard()}
        return super().changelist_view(request, extra_context)

    def _key_search_redirect(self, request: HttpRequest) -> HttpResponse | None:
        """Swap a session key pasted into the search box for its session's id.

        The key form (``find_by_key_view``) keeps keys out of URLs; this catches a key that
        went into the search box anyway.

        The search box, pagination and filter links echo the search term; a key must never
        appear on a page, so a matching key is replaced by the opaque id before anything
        is rendered. A key that matches no session is no session's key: it is searched as is.
        """
        term = request.GET.get(SEARCH_VAR, "").strip()
        session_id = session_id_of_key(term)
        if session_id is None:
            return None
        params = request.GET.copy()
        params[SEARCH_VAR] = f"#{session_id}"
        return HttpResponseRedirect(f"{request.path}?{params.urlencode()}")

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> Any:
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
            {"name": row.name, "size": row.size, "value": display_value(row.name, row.value)}
            for row in rows
        ]

    # Ending sessions -------------------------------------------------------------------

    @admin.action(description="End selected sessions", permissions=["delete"])
    def end_selected_sessions(self, request: HttpRequest, queryset: QuerySet) -> Any:
        sessions = list(queryset.order_by("pk"))
        if request.POST.get("confirm") != "yes":
            return self._confirm(request, "end_selected_sessions", sessions, sessions, [])
        self._end_and_log(request, [s.pk for s in sessions])
        return None

    @admin.action(description="End all sessions of these owners", permissions=["delete"])
    def end_owner_sessions(self, request: HttpRequest, queryset: QuerySet) -> Any:
        """End this app's sessions of the selected sessions' owners (see the module's doc)."""
        app_name = app_settings.APP_NAME
        selected = list(queryset.order_by("pk"))
        ours = [s for s in selected if s.principal and s.app_name == app_name]
        owned = (
            self.get_queryset(request)
            .filter(app_name=app_name, principal__in={s.principal for s in ours})
            .order_by("pk")
        )
        if request.POST.get("confirm") != "yes":
            attach_owners(ours)
            names = sorted({owner_label(s) for s in ours})
            return self._confirm(request, "end_owner_sessions", selected, list(owned), names)
        self._end_and_log(request, list(owned.values_list("pk", flat=True)))
        return None

    def _confirm(
        self,
        request: HttpRequest,
        action: str,
        selected: list[Session],
        to_end: list[Session],
        owners: list[str],
    ) -> TemplateResponse:
        attach_owners(to_end)
        for session in to_end:
            session.owner_label = owner_label(session)
        app_name = app_settings.APP_NAME
        context = {
            **self.admin_site.each_context(request),
            "title": "End sessions?",
            "opts": self.model._meta,
            "action": action,
            "selected": selected,
            "to_end": to_end,
            "owners": owners,
            "app_name": app_name,
            "foreign_owned": sum(bool(s.principal) and s.app_name != app_name for s in selected),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(
            request, "admin/dbsessions/session/end_sessions_confirmation.html", context
        )

    def _end_and_log(self, request: HttpRequest, ids: list[int]) -> int:
        ended = api.end_sessions(ids)
        if ended:
            self.log_deletions(request, [Session(pk=pk) for pk in ended])
        plural = "" if len(ended) == 1 else "s"
        self.message_user(request, f"Ended {len(ended)} session{plural}.", messages.SUCCESS)
        return len(ended)

    def get_urls(self) -> list:
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

    def find_by_key_view(self, request: HttpRequest) -> HttpResponse:
        """Show the session of a key pasted from a cookie, listed by its id.

        The key arrives in a POST body, so it never appears in a URL, a browser's history or
        a server's access log; only its hash is looked up.
        """
        if not self.has_view_permission(request):
            raise PermissionDenied
        changelist = reverse(
            "admin:dbsessions_session_changelist", current_app=self.admin_site.name
        )
        session_id = session_id_of_key(request.POST.get("key", "").strip())
        if session_id is None:
            messages.warning(request, "No session has that key.")
            return HttpResponseRedirect(changelist)
        return HttpResponseRedirect(f"{changelist}?{SEARCH_VAR}=%23{session_id}")

    def end_user_sessions_view(self, request: HttpRequest, principal: str) -> HttpResponse:
        """End every session of one user in this app: the button on the user's page."""
        if not self.has_delete_permission(request):
            raise PermissionDenied
        ids = list(
            Session.objects.using(app_settings.DATABASE)
            .filter(app_name=app_settings.APP_NAME, principal=principal)
            .values_list("pk", flat=True)
        )
        self._end_and_log(request, ids)
        target = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            target = reverse(
                "admin:dbsessions_session_changelist", current_app=self.admin_site.name
            )
        return HttpResponseRedirect(target)


class UserSessionsMixin:
    """Adds the user's active sessions, a link to them and an "end all" button to the
    user's change page. Mix it into your own ``UserAdmin`` if you register one."""

    change_form_template = "admin/dbsessions/user_change_form.html"

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> Any:
        extra_context = {**(extra_context or {}), **_user_sessions_context(request, object_id)}
        return super().change_view(request, object_id, form_url, extra_context)

    def render_change_form(
        self, request: HttpRequest, context: dict, *args: Any, **kwargs: Any
    ) -> Any:
        # Our template extends the change form Django would have picked for the user model.
        opts = self.model._meta
        context["dbsessions_base_template"] = select_template(
            [
                f"admin/{opts.app_label}/{opts.model_name}/change_form.html",
                f"admin/{opts.app_label}/change_form.html",
                "admin/change_form.html",
            ]
        ).template.name
        return super().render_change_form(request, context, *args, **kwargs)


def _user_sessions_context(request: HttpRequest, object_id: str) -> dict[str, Any]:
    session_admin = admin.site._registry.get(Session)
    if session_admin is None or not session_admin.has_view_permission(request):
        return {}
    app_name = app_settings.APP_NAME
    active = (
        Session.objects.using(app_settings.DATABASE)
        .filter(app_name=app_name, principal=str(object_id), expires_at__gt=timezone.now())
        .count()
    )
    changelist = reverse("admin:dbsessions_session_changelist")
    query = urlencode({"status": "active", "app_name": app_name, "principal": object_id})
    return {
        "dbsessions_user_sessions": {
            "active": active,
            "app_name": app_name,
            "list_url": f"{changelist}?{query}",
            "end_url": reverse(
                "admin:dbsessions_session_end_user_sessions", args=[str(object_id)]
            ),
            "can_end": session_admin.has_delete_permission(request),
            "next": request.get_full_path(),
        }
    }


def _extend_user_admin() -> None:
    """Swap the registered user admin for a subclass with the sessions panel, if there is one."""
    if apps.is_installed("django.contrib.auth"):
        # Registers the stock UserAdmin now, even when auth comes after us in INSTALLED_APPS.
        import django.contrib.auth.admin  # noqa: F401
    user_model = get_user_model()
    registered = admin.site._registry.get(user_model)
    if registered is None or isinstance(registered, UserSessionsMixin):
        return
    cls = type(registered)
    extended = type(cls.__name__, (UserSessionsMixin, cls), {"__module__": cls.__module__})
    admin.site.unregister(user_model)
    admin.site.register(user_model, extended)


_extend_user_admin()
