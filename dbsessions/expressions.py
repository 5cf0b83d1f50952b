"""Query expressions the admin needs that Django spells differently per vendor."""

from typing import Any

from django.db.models import BigIntegerField, Func


class OctetLength(Func):
    """Size in bytes of a ``BinaryField`` value.

    Django's ``Length`` counts characters (``CHAR_LENGTH`` on MySQL) and fails on Oracle BLOBs
    and SQL Server ``VARBINARY(MAX)``; a stored value's size is what an operator wants.
    """

    function = "OCTET_LENGTH"
    output_field = BigIntegerField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler, connection, template="LENGTH(CAST(%(expressions)s AS BLOB))", **extra
        )

    def as_oracle(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, function="DBMS_LOB.GETLENGTH", **extra)

    def as_microsoft(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, function="DATALENGTH", **extra)
