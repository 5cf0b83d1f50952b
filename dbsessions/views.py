"""The "your sessions" page: a logged-in user sees and ends their own sessions.

Sessions are addressed by a token signed with a salt that includes the user's pk: it reveals
nothing about the session key, and a token taken from one user's page is refused for any
other user, on top of the ownership check done when the session is ended.
"""

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.views.decorators.http import require_GET, require_POST

from dbsessions import api
from dbsessions.conf import app_settings
from dbsessions.models import Session

SALT = "dbsessions.views.user-session"


def session_token(user: Any, session: Session) -> str:
    """The opaque identifier of ``session`` on ``user``'s page."""
    return signing.Signer(salt=f"{SALT}:{user.pk}").sign(str(session.pk))


def session_id_from_token(user: Any, token: str) -> int | None:
    """The session id in ``token`` if it was issued to ``user``, else None."""
    try:
        return int(signing.Signer(salt=f"{SALT}:{user.pk}").unsign(token))
    except (signing.BadSignature, ValueError):
        return None


@require_GET
@login_required
def user_sessions(request: HttpRequest) -> HttpResponse:
    current_key = request.session.session_key
    entries = [
        {
            "session": session,
            "token": session_token(request.user, session),
            "current": api.is_current(session, current_key),
            "ends_if_unused": api.ends_if_unused(session),
            "ends_at_latest": api.ends_at_latest(session),
        }
        for session in api.live_sessions(request.user)
    ]
    entries.sort(key=lambda entry: not entry["current"])  # this device first
    context = {
        "entries": entries,
        "others": sum(not entry["current"] for entry in entries),
        "absolute_timeout": app_settings.ABSOLUTE_TIMEOUT is not None,
    }
    return render(request, "dbsessions/user_sessions.html", context)


@require_POST
@login_required
def end_session(request: HttpRequest) -> HttpResponse:
    session_id = session_id_from_token(request.user, request.POST.get("session", ""))
    if session_id is None:
        raise Http404("No such session.")
    session = api.live_sessions(request.user).filter(pk=session_id).first()
    if session is None:
        raise Http404("No such session.")
    if api.is_current(session, request.session.session_key):
        # Ending the session this request runs in is logging out.
        logout(request)
        return redirect(resolve_url(settings.LOGOUT_REDIRECT_URL or "/"))
    if api.end_user_session(request.user, session_id):
        messages.success(request, "The session was ended.", fail_silently=True)
    return redirect("dbsessions:user_sessions")


@require_POST
@login_required
def end_other_sessions(request: HttpRequest) -> HttpResponse:
    ended = api.end_other_sessions(request.user, request.session.session_key)
    plural = "" if ended == 1 else "s"
    messages.success(request, f"Ended {ended} other session{plural}.", fail_silently=True)
    return redirect("dbsessions:user_sessions")
