"""Opt-in capture of the client's IP address and user agent with each session save.

Add ``"dbsessions.middleware.ClientMetadataMiddleware"`` after Django's ``SessionMiddleware``.
The values are written with the session row whenever the session is saved (its creation, a
login, any change), and shown in the admin and on the "your sessions" page. The address is
``REMOTE_ADDR``: behind a proxy, have it set from the forwarded header before this runs.

Both values come from the client, so they are made fit for every database and for display
before they are stored: PostgreSQL refuses a NUL in text and an IPv6 zone in ``inet``, and
control characters would reach the admin's pages as they are.
"""

import ipaddress
from collections.abc import Awaitable, Callable
from typing import cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse

from dbsessions.models import MAX_USER_AGENT_LENGTH

GetResponse = Callable[[HttpRequest], HttpResponse | Awaitable[HttpResponse]]


class ClientMetadataMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse) -> None:
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
        # In async mode, get_response is a coroutine function.
        return await cast(Awaitable[HttpResponse], self.get_response(request))


def _capture(request: HttpRequest) -> None:
    session = getattr(request, "session", None)
    if session is not None:
        session.client_metadata = client_metadata(request)


def client_metadata(request: HttpRequest) -> tuple[str | None, str | None]:
    """(IP address or None, user agent or None) of ``request``, fit for the session row."""
    # A link-local peer's address may carry a zone ("fe80::1%eth0"), local to this host.
    address = request.META.get("REMOTE_ADDR", "").partition("%")[0]
    try:
        ip = str(ipaddress.ip_address(address))
    except ValueError:
        ip = None
    return ip, printable(request.META.get("HTTP_USER_AGENT", ""), MAX_USER_AGENT_LENGTH)


def printable(value: str, max_length: int) -> str | None:
    """``value`` with each unprintable character (C0, DEL, C1, ...) made a space, trimmed to
    ``max_length`` after that, so the bound holds for what is stored; None if nothing is left.
    """
    if not value.isprintable():  # rare: most agents need no character-by-character pass
        value = "".join(char if char.isprintable() else " " for char in value)
    return value[:max_length].strip() or None
