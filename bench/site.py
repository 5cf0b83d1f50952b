"""The benchmark site: three tiny views over ``request.session``, no templates."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from bench.data import SIZES, changed_value, payload


def seed(request: HttpRequest, size: str) -> HttpResponse:
    """Give this client a session of the given size (not timed by the load generator)."""
    if size not in SIZES:
        return HttpResponse("unknown size", status=404)
    request.session.update(payload(size))
    return HttpResponse("seeded")


def read(request: HttpRequest) -> HttpResponse:
    """Read one key and change nothing: a read-only request."""
    value = request.session.get("k0", "")
    return HttpResponse(str(len(value)))


def write(request: HttpRequest) -> HttpResponse:
    """Change exactly one key, keeping its size; its first digits count the writes."""
    old = request.session.get("k1", "")
    stamp = old[:12]
    counter = int(stamp) + 1 if stamp.isdigit() else 1
    request.session["k1"] = changed_value(old, counter)
    return HttpResponse(str(counter))


def health(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


urlpatterns = [
    path("seed/<str:size>/", seed),
    path("read/", read),
    path("write/", write),
    path("health/", health),
]
