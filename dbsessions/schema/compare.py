"""Compare the live session tables with what the migrations expect.

The expectation comes from the models as the migrations leave them, read through Django's
introspection, so the same code checks every vendor. Names of indexes and constraints are not
compared (a DBA may have named them differently); their columns and kinds are. Extra indexes
are allowed; extra columns are reported, since inserts that ignore them can fail. Collations
are compared too: under the wrong one, names that differ by case, accents or trailing spaces
collide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, ForeignKey, Model, UniqueConstraint

from dbsessions.dialects import dialect_for
from dbsessions.schema.ddl import schema_models

#: What introspection may report for a column created from the field type on the left.
_REPORTED_AS: dict[str, set[str]] = {
    "BigAutoField": {"BigAutoField", "AutoField", "BigIntegerField"},
    "AutoField": {"AutoField", "IntegerField"},
    "GenericIPAddressField": {"GenericIPAddressField", "CharField"},
    # MySQL's LONGBLOB is reported as a TextField; Oracle's BLOB as a BinaryField.
    "BinaryField": {"BinaryField", "TextField"},
}


@dataclass(frozen=True)
class Expected:
    """An index or constraint the schema needs, described by columns and kind."""

    table: str
    columns: tuple[str, ...]
    kind: str  # "primary key", "unique constraint", "index", "foreign key"
    references: tuple[str, str] | None = None

    def __str__(self) -> str:
        target = (
            f" referencing {self.references[0]} ({self.references[1]})" if self.references else ""
        )
        return f"{self.kind} on {self.table} ({', '.join(self.columns)}){target}"


def schema_differences(connection: BaseDatabaseWrapper) -> list[str]:
    """One sentence per difference between the live schema and the expected one."""
    models = schema_models()
    introspection = connection.introspection
    with connection.cursor() as cursor:
        live_tables = set(introspection.table_names(cursor))
        problems: list[str] = []
        for model in models:
            table = introspection.identifier_converter(model._meta.db_table)
            if table not in live_tables:
                problems.append(f"Table {model._meta.db_table} is missing.")
                continue
            description = introspection.get_table_description(cursor, model._meta.db_table)
            constraints = introspection.get_constraints(cursor, model._meta.db_table)
            problems += _column_differences(connection, model, description)
            problems += _collation_differences(connection, cursor, model, description)
            problems += _constraint_differences(connection, model, constraints)
    return problems


def _column_differences(
    connection: BaseDatabaseWrapper, model: type[Model], description: list[Any]
) -> list[str]:
    convert = connection.introspection.identifier_converter
    table = model._meta.db_table
    live = {convert(info.name): info for info in description}
    problems = []
    expected_columns = set()
    for field in model._meta.local_concrete_fields:
        column = convert(field.column)
        expected_columns.add(column)
        info = live.get(column)
        if info is None:
            problems.append(f"Column {table}.{field.column} is missing.")
            continue
        expected_type = _expected_type(field)
        live_type = connection.introspection.get_field_type(info.type_code, info)
        if live_type not in _REPORTED_AS.get(expected_type, {expected_type}):
            problems.append(
                f"Column {table}.{field.column} is {live_type}, expected {expected_type} "
                f"({field.db_type(connection)})."
            )
        elif expected_type == "CharField" and info.display_size not in (None, field.max_length):
            problems.append(
                f"Column {table}.{field.column} holds {info.display_size} characters, "
                f"expected {field.max_length}."
            )
        if bool(info.null_ok) != _nullable(connection, field):
            want = "NULL" if _nullable(connection, field) else "NOT NULL"
            problems.append(f"Column {table}.{field.column} should be {want}.")
    for column in sorted(set(live) - expected_columns):
        problems.append(f"Column {table}.{column} is not part of the schema.")
    return problems


def _collation_differences(
    connection: BaseDatabaseWrapper, cursor: Any, model: type[Model], description: list[Any]
) -> list[str]:
    table = model._meta.db_table
    live = _live_collations(connection, cursor, table, description)
    # Where the server names every column's collation, only the exact ones matter.
    all_named = dialect_for(connection).column_collations_sql is not None
    problems = []
    for field in model._meta.local_concrete_fields:
        column = connection.introspection.identifier_converter(field.column)
        if column not in live:
            continue  # reported as missing
        expected = field.db_parameters(connection).get("collation")
        if expected is None and all_named:
            continue
        if live[column] != expected:
            problems.append(
                f"Column {table}.{field.column} has collation {live[column] or 'default'}, "
                f"expected {expected or 'the database default'}."
            )
    return problems


def _live_collations(
    connection: BaseDatabaseWrapper, cursor: Any, table: str, description: list[Any]
) -> dict[str, str | None]:
    """Each column's collation; None where introspection reports the default."""
    sql = dialect_for(connection).column_collations_sql
    if sql is not None:
        cursor.execute(sql, [table])
        return dict(cursor.fetchall())
    convert = connection.introspection.identifier_converter
    return {convert(info.name): getattr(info, "collation", None) for info in description}


def _expected_type(field: Field[Any, Any]) -> str:
    if isinstance(field, ForeignKey):
        target: str = field.target_field.get_internal_type()
        return {"BigAutoField": "BigIntegerField", "AutoField": "IntegerField"}.get(target, target)
    return field.get_internal_type()


def _nullable(connection: BaseDatabaseWrapper, field: Field[Any, Any]) -> bool:
    # Oracle stores '' as NULL, so Django creates its text columns nullable (but for a
    # primary key).
    return field.null or (
        connection.features.interprets_empty_strings_as_nulls
        and field.empty_strings_allowed
        and not field.primary_key
    )


def expected_constraints(model: type[Model]) -> list[Expected]:
    table = model._meta.db_table
    expected = []
    for field in model._meta.local_concrete_fields:
        if field.primary_key:
            expected.append(Expected(table, (field.column,), "primary key"))
        elif field.unique:
            expected.append(Expected(table, (field.column,), "unique constraint"))
        # django-stubs declares db_index as an argument of Field only, not as an attribute.
        elif field.db_index:  # type: ignore[attr-defined]
            expected.append(Expected(table, (field.column,), "index"))
        # Nor db_constraint as an attribute of ForeignKey.
        if isinstance(field, ForeignKey) and field.db_constraint:  # type: ignore[attr-defined]
            target = field.target_field
            expected.append(
                Expected(
                    table,
                    (field.column,),
                    "foreign key",
                    (target.model._meta.db_table, target.column),
                )
            )
    for constraint in model._meta.constraints:
        if isinstance(constraint, UniqueConstraint):
            expected.append(
                Expected(table, _columns(model, constraint.fields), "unique constraint")
            )
    for index in model._meta.indexes:
        expected.append(Expected(table, _columns(model, index.fields), "index"))
    return expected


def _columns(model: type[Model], names: Sequence[str]) -> tuple[str, ...]:
    """The columns of ``model``'s fields ``names``."""
    columns = {field.name: field.column for field in model._meta.local_concrete_fields}
    return tuple(columns[name] for name in names)


def _constraint_differences(
    connection: BaseDatabaseWrapper, model: type[Model], constraints: dict[str, dict[str, Any]]
) -> list[str]:
    convert = connection.introspection.identifier_converter
    live = [
        {**info, "columns": tuple(convert(c) for c in info["columns"])}
        for info in constraints.values()
    ]
    problems = []
    for want in expected_constraints(model):
        columns = tuple(convert(c) for c in want.columns)
        if not any(_satisfies(info, want, columns, convert) for info in live):
            problems.append(f"The {want} is missing.")
    return problems


def _satisfies(
    info: dict[str, Any], want: Expected, columns: tuple[str, ...], convert: Any
) -> bool:
    if info["columns"] != columns:
        return False
    if want.kind == "primary key":
        return bool(info["primary_key"])
    if want.kind == "unique constraint":
        return bool(info["unique"]) and not info["primary_key"]
    if want.kind == "index":
        # A unique index also serves lookups; any index whose columns match will do.
        return bool(info.get("index") or info["unique"]) and not info["foreign_key"]
    references = info["foreign_key"]
    return bool(references) and tuple(convert(n) for n in references) == tuple(
        convert(n) for n in want.references or ()
    )
