"""The changelist's rows: each session with its attribute count and size, and its owner."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from django.contrib.admin.views.main import ChangeList
from django.db.models import BigIntegerField, Count, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import HttpRequest

from dbsessions.admin.owners import attach_owners
from dbsessions.expressions import OctetLength
from dbsessions.models import Attribute, Session

if TYPE_CHECKING:  # django_stubs_ext's alias takes one argument at run time
    from django_stubs_ext import WithAnnotations

    class Figures(TypedDict):
        attribute_count: int
        value_bytes: int

    #: A session as ``with_figures()`` annotates it.
    ListedSession = WithAnnotations[Session, Figures]


def with_figures(sessions: QuerySet[Session]) -> QuerySet[Session]:
    """Annotate each session with its ``attribute_count`` and ``value_bytes``."""
    attributes = Attribute.objects.filter(session=OuterRef("pk")).order_by().values("session")
    # Correlated subqueries, not a JOIN + GROUP BY: the database computes them only for the
    # rows of the page, and count queries drop them.
    return sessions.annotate(
        attribute_count=Coalesce(Subquery(attributes.annotate(n=Count("pk")).values("n")), 0),
        value_bytes=Coalesce(
            Subquery(
                attributes.annotate(n=Sum(OctetLength("value"))).values("n"),
                output_field=BigIntegerField(),
            ),
            0,
        ),
    )


class SessionChangeList(ChangeList):
    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        # The page's ids first, then its rows with their attribute figures: a deep page
        # (a large OFFSET) then skips rows without computing their figures.
        ids = list(self.result_list.values_list("pk", flat=True))
        rows = self.model_admin.get_queryset(request).in_bulk(ids)
        self.result_list = attach_owners([rows[pk] for pk in ids if pk in rows])
