"""Opt-in capture of the client's IP address and user agent with each session save.

Add ``"dbsessions.middleware.ClientMetadataMiddleware"`` after Django's ``SessionMiddleware``.
The values are written with the session row whenever the session is saved (its creation, a
login, any change), and shown in the admin and on the "your sessions" page. The address is
``REMOTE_ADDR``: behind a proxy, have it set from the forwarded header before this runs.
"""

import ipaddress
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse

#: The length of the ``user_agent`` column.
MAX_USER_AGENT_LENGTH = 255


class ClientMetadataMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        if self.async_mode:
            return self.__acall__(request)
        _capture(request)
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        _capture(request)
        return await self.get_response(request)


def _capture(request: HttpRequest) -> None:
    session = getattr(request, "session", None)
    if session is not None:
        session.client_metadata = client_metadata(request)


def client_metadata(request: HttpRequest) -> tuple[str | None, str | None]:
    """(IP address or None, user agent or None) of ``request``, fit for the session row."""
    try:
        ip = str(ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")))
    except ValueError:
        ip = None
    agent = request.META.get("HTTP_USER_AGENT", "")[:MAX_USER_AGENT_LENGTH] or None
    return ip, agent
