"""Finding the session of a key without the key reaching a URL or a page.

Only the key's hash is looked up, and a match is named by the session's row id.
"""

from django.contrib.admin.views.main import SEARCH_VAR
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from dbsessions.conf import app_settings
from dbsessions.keys import hash_key, is_plausible_key
from dbsessions.models import Session


def session_id_of_key(key: str) -> int | None:
    """Return the row id of the session whose key is ``key`` (any app name), or None."""
    if not is_plausible_key(key):
        return None
    return (
        Session.objects.using(app_settings.DATABASE)
        .filter(key_hash=hash_key(key))
        .values_list("pk", flat=True)
        .first()
    )


def key_search_redirect(request: HttpRequest) -> HttpResponse | None:
    """Swap a session key pasted into the changelist's search box for its session's id.

    The key form (``SessionAdmin.find_by_key_view``) keeps keys out of URLs; this catches a
    key that went into the search box anyway.

    The search box, pagination and filter links echo the search term; a key must never
    appear on a page, so a matching key is replaced by the opaque id before anything is
    rendered. A key that matches no session is no session's key: it is searched as is.
    """
    term = request.GET.get(SEARCH_VAR, "").strip()
    session_id = session_id_of_key(term)
    if session_id is None:
        return None
    params = request.GET.copy()
    params[SEARCH_VAR] = f"#{session_id}"
    return HttpResponseRedirect(f"{request.path}?{params.urlencode()}")
