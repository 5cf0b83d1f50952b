"""Demo pages: each keeps its state in ``request.session`` and so in the dbsessions tables."""

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

CATALOGUE: dict[str, str] = {
    "apple": "Apple",
    "bread": "Bread",
    "cheese": "Cheese",
    "coffee": "Coffee",
    "tea": "Tea",
}


def home(request: HttpRequest) -> HttpResponse:
    visits = request.session.get("visits", 0) + 1
    request.session["visits"] = visits
    return render(request, "home.html", {"visits": visits})


@require_http_methods(["GET", "POST"])
def cart(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        item = request.POST.get("item", "")
        action = request.POST.get("action", "")
        if item not in CATALOGUE or action not in ("add", "remove"):
            return HttpResponseBadRequest("Unknown item or action.")

        # The change runs under a lock of the "cart" attribute's row alone: two tabs that
        # add items at once both keep theirs, and no other key of the session waits.
        def change(items: dict[str, int]) -> dict[str, int]:
            items = dict(items)
            if action == "add":
                items[item] = items.get(item, 0) + 1
            elif item in items:
                items[item] -= 1
                if items[item] <= 0:
                    del items[item]
            return items

        request.session.atomic_update("cart", change, default={})
        return redirect("cart")

    items = request.session.get("cart", {})
    lines = [
        (name, CATALOGUE.get(name, name), quantity) for name, quantity in sorted(items.items())
    ]
    return render(
        request,
        "cart.html",
        {"catalogue": CATALOGUE, "lines": lines, "total": sum(items.values())},
    )
