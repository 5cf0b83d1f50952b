"""Query expressions the admin needs, spelled by each vendor's dialect."""

from typing import TYPE_CHECKING, Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import BigIntegerField, Func
from django.db.models.sql.compiler import SQLCompiler

from dbsessions.dialects import dialect_for

if TYPE_CHECKING:
    from django.db.models.sql.compiler import _AsSqlType


class OctetLength(Func):
    """Size in bytes of a ``BinaryField`` value.

    Django's ``Length`` counts characters (``CHAR_LENGTH`` on MySQL) and fails on Oracle BLOBs
    and SQL Server ``VARBINARY(MAX)``; a stored value's size is what an operator wants.
    """

    output_field = BigIntegerField()

    def as_sql(
        self,
        compiler: SQLCompiler,
        connection: BaseDatabaseWrapper,
        function: str | None = None,
        template: str | None = None,
        arg_joiner: str | None = None,
        **extra_context: Any,
    ) -> "_AsSqlType":
        template = template or dialect_for(connection).octet_length_template
        return super().as_sql(
            compiler, connection, function, template, arg_joiner, **extra_context
        )
