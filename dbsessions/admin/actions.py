"""The changelist's actions, which end sessions after a confirmation page.

Ending goes through ``dbsessions.api``, which locks rows as the engine does; each ended
session gets one admin log entry. "All sessions of these owners" means this app's
(``APP_NAME``) sessions of those owners: another app's principal is another project's user.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict, cast

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from dbsessions import api
from dbsessions.admin.owners import attach_owners, owner_label
from dbsessions.conf import app_settings
from dbsessions.models import Session

CONFIRMATION_TEMPLATE = "admin/dbsessions/session/end_sessions_confirmation.html"


if TYPE_CHECKING:  # django_stubs_ext's alias takes one argument at run time
    from django_stubs_ext import WithAnnotations

    class LabelAttributes(TypedDict):
        owner_label: str

    #: A session listed on the confirmation page, its owner named.
    LabelledSession = WithAnnotations[Session, LabelAttributes]


@admin.action(description="End selected sessions", permissions=["delete"])
def end_selected_sessions(
    modeladmin: admin.ModelAdmin[Session], request: HttpRequest, queryset: QuerySet[Session]
) -> TemplateResponse | None:
    sessions = list(queryset.order_by("pk"))
    if request.POST.get("confirm") != "yes":
        return confirmation(modeladmin, request, "end_selected_sessions", sessions, sessions, [])
    end_and_log(modeladmin, request, [s.pk for s in sessions])
    return None


@admin.action(description="End all sessions of these owners", permissions=["delete"])
def end_owner_sessions(
    modeladmin: admin.ModelAdmin[Session], request: HttpRequest, queryset: QuerySet[Session]
) -> TemplateResponse | None:
    """End this app's sessions of the selected sessions' owners (see the module's doc)."""
    app_name = app_settings.APP_NAME
    selected = list(queryset.order_by("pk"))
    ours = [s for s in selected if s.principal and s.app_name == app_name]
    owned = (
        modeladmin.get_queryset(request)
        .filter(app_name=app_name, principal__in={s.principal for s in ours})
        .order_by("pk")
    )
    if request.POST.get("confirm") != "yes":
        names = sorted({owner_label(s) for s in attach_owners(ours)})
        return confirmation(
            modeladmin, request, "end_owner_sessions", selected, list(owned), names
        )
    end_and_log(modeladmin, request, list(owned.values_list("pk", flat=True)))
    return None


def confirmation(
    modeladmin: admin.ModelAdmin[Session],
    request: HttpRequest,
    action: str,
    selected: list[Session],
    to_end: list[Session],
    owners: list[str],
) -> TemplateResponse:
    """Return the page that asks before ``action`` ends the ``to_end`` sessions."""
    for session in attach_owners(to_end):
        cast("LabelledSession", session).owner_label = owner_label(session)
    app_name = app_settings.APP_NAME
    context: dict[str, Any] = {
        **modeladmin.admin_site.each_context(request),
        "title": "End sessions?",
        "opts": modeladmin.model._meta,
        "action": action,
        "selected": selected,
        "to_end": to_end,
        "owners": owners,
        "app_name": app_name,
        "foreign_owned": sum(bool(s.principal) and s.app_name != app_name for s in selected),
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, CONFIRMATION_TEMPLATE, context)


def end_and_log(
    modeladmin: admin.ModelAdmin[Session], request: HttpRequest, ids: list[int]
) -> int:
    """End the sessions with these ids, log each end and say how many ended."""
    ended = api.end_sessions(ids)
    if ended:
        # The rows are gone, so no queryset can name them; log_actions() only iterates.
        gone = [Session(pk=pk) for pk in ended]
        modeladmin.log_deletions(request, gone)  # type: ignore[arg-type]
    plural = "" if len(ended) == 1 else "s"
    modeladmin.message_user(request, f"Ended {len(ended)} session{plural}.", messages.SUCCESS)
    return len(ended)
