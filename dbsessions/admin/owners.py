"""Who owns a session, looked up without joining users in SQL.

Sessions may live on another database than users (``DBSESSIONS["DATABASE"]``), so matching
users are looked up on their own database first, and the owners of a page of sessions are
fetched in one query. Only this app's (``APP_NAME``) sessions have an owner here: another
app's principal is another project's user, whatever pk they share.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypedDict, cast

from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models import Q

from dbsessions.conf import app_settings
from dbsessions.models import Session

#: Owners matched by a search term; more would make a long IN list on every vendor.
MAX_SEARCH_OWNERS = 500


if TYPE_CHECKING:  # django_stubs_ext's alias takes one argument at run time
    from django_stubs_ext import WithAnnotations

    class OwnerAttributes(TypedDict):
        #: The user of this site the session belongs to, or None.
        owner: Any

    #: A session with its ``owner`` attached by ``attach_owners()``.
    OwnedSession = WithAnnotations[Session, OwnerAttributes]


def owners_by_principal(principals: set[str]) -> dict[str, Any]:
    """Return the users behind ``principal`` values, in one query on the users' database."""
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


def attach_owners(sessions: Sequence[Session]) -> list[OwnedSession]:
    """Set each session's ``owner`` (see the module's doc) and return the sessions.

    One query for all of them.
    """
    app_name = app_settings.APP_NAME
    owners = owners_by_principal(
        {s.principal for s in sessions if s.principal and s.app_name == app_name}
    )
    owned = [cast("OwnedSession", session) for session in sessions]
    for session in owned:
        ours = session.app_name == app_name and session.principal is not None
        session.owner = owners.get(session.principal) if ours else None
    return owned


def owner_label(session: OwnedSession) -> str:
    """Say in words who ``session`` (its ``owner`` attached) belongs to."""
    if not session.principal:
        return "anonymous"
    if session.app_name != app_settings.APP_NAME:
        return f"user {session.principal} of {session.app_name}"
    if session.owner is None:
        return f"deleted user {session.principal}"
    return str(session.owner)


def principals_matching(term: str) -> list[str]:
    """Return the principals of users whose username or email contains ``term``."""
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
