"""Create the session tables on a live database, the way ``migrate`` would."""

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.recorder import MigrationRecorder

from dbsessions.schema.ddl import (
    APP_LABEL,
    create_sql,
    migration_names,
    schema_models,
    without_semicolon,
)


@dataclass
class InstallResult:
    created_tables: list[str] = field(default_factory=list)
    #: Statements run (tables, constraints and, unless skipped, indexes).
    statements: list[str] = field(default_factory=list)
    #: Index statements left for a DBA (``skip_indexes``).
    skipped_indexes: list[str] = field(default_factory=list)
    #: Migrations newly recorded as applied, so ``migrate`` has nothing left to do.
    recorded: list[str] = field(default_factory=list)


def table_names() -> list[str]:
    """The session tables, each after the tables it references."""
    return [model._meta.db_table for model in schema_models()]


def existing_tables(connection: BaseDatabaseWrapper) -> list[str]:
    """Which of the session tables exist on ``connection``."""
    introspection = connection.introspection
    with connection.cursor() as cursor:
        live = set(introspection.table_names(cursor))
    return [name for name in table_names() if introspection.identifier_converter(name) in live]


def install_schema(
    connection: BaseDatabaseWrapper, *, skip_indexes: bool = False
) -> InstallResult:
    """Create the tables (and their indexes unless skipped), then record the migrations.

    Where DDL is transactional (PostgreSQL, SQLite) a failure leaves nothing behind.
    """
    schema = create_sql(connection)
    result = InstallResult(created_tables=table_names())
    result.statements = schema.tables if skip_indexes else schema.statements
    result.skipped_indexes = schema.indexes if skip_indexes else []
    guard: AbstractContextManager[object] = (
        transaction.atomic(using=connection.alias)
        if connection.features.can_rollback_ddl
        else nullcontext()
    )
    with guard, connection.cursor() as cursor:
        for statement in result.statements:
            cursor.execute(without_semicolon(statement))
    result.recorded = record_migrations(connection)
    return result


def record_migrations(connection: BaseDatabaseWrapper) -> list[str]:
    """Mark this app's migrations applied on ``connection``; return the newly marked ones."""
    recorder = MigrationRecorder(connection)
    recorder.ensure_schema()
    applied = recorder.applied_migrations()
    recorded = []
    for name in migration_names():
        if (APP_LABEL, name) not in applied:
            recorder.record_applied(APP_LABEL, name)
            recorded.append(name)
    return recorded
