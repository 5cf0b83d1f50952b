"""Django admin for live sessions: read only, with actions that end sessions.

Importing this package registers the Session admin on ``admin.site`` and changes nothing
else: the sessions panel on the user's page is added by ``DbSessionsConfig.ready()``, or by
``extend_user_admin()`` for a site made later.

- ``sessions``: the Session admin (list, detail, search, and the views behind the key form
  and the user page's button);
- ``changelist``: the list's rows, with attribute figures and owners;
- ``owners``: who owns a session, without joining users in SQL;
- ``key_search``: finding the session of a key without the key reaching a URL;
- ``filters`` and ``actions``: the list's filters and its actions that end sessions;
- ``users``: the sessions panel on the user's page.
"""

from django.contrib import admin

from dbsessions.admin.sessions import SessionAdmin
from dbsessions.admin.users import UserSessionsMixin, extend_user_admin, extend_user_admins
from dbsessions.models import Session

__all__ = ["SessionAdmin", "UserSessionsMixin", "extend_user_admin", "extend_user_admins"]

admin.site.register(Session, SessionAdmin)
