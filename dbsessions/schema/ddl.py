"""The DDL of the session tables, produced by the same Django code that ``migrate`` runs.

The models are rendered from this app's migrations (as ``migrate`` sees them), with the table
names of ``DBSESSIONS`` read now, then handed to the connection's schema editor in collecting
mode. So the statements are, by construction, the ones ``migrate`` would run on that vendor.
"""

from dataclasses import dataclass

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.loader import MigrationLoader
from django.db.models import Model

from dbsessions.conf import app_settings

APP_LABEL = "dbsessions"
#: The app's models, each after the ones it references.
MODEL_NAMES = ("Session", "Attribute", "ImportedSession", "PurgeLease", "EndedSessions")


@dataclass(frozen=True)
class SchemaSQL:
    """CREATE statements split as Liberty's skipIndexCreation splits them."""

    #: Tables with their primary keys, unique constraints and foreign keys.
    tables: list[str]
    #: Secondary (non-unique) indexes, which a DBA may prefer to build later.
    indexes: list[str]

    @property
    def statements(self) -> list[str]:
        return [*self.tables, *self.indexes]


def migration_names() -> list[str]:
    """This app's migrations, in the order ``migrate`` applies them."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    plan = loader.graph.forwards_plan(loader.graph.leaf_nodes(APP_LABEL)[0])
    return [name for app, name in plan if app == APP_LABEL]


def schema_models(
    session_table: str | None = None, attribute_table: str | None = None
) -> tuple[type[Model], ...]:
    """Fresh classes of the app's models (``MODEL_NAMES``) as the migrations leave them.

    Rendered anew on each call so that a backend's field patches (mssql-django gives
    ``BinaryField`` a ``max`` length when it is imported) apply, as they do for ``migrate``.
    Ordered so that each table comes after the tables it references.
    """
    loader = MigrationLoader(None, ignore_no_migrations=True)
    state = loader.project_state(loader.graph.leaf_nodes(APP_LABEL)[0], at_end=True)
    tables = {
        "session": session_table or app_settings.SESSION_TABLE,
        "attribute": attribute_table or app_settings.ATTRIBUTE_TABLE,
    }
    for model_name, table in tables.items():
        state.models[APP_LABEL, model_name].options["db_table"] = table
    apps = state.apps
    return tuple(apps.get_model(APP_LABEL, name) for name in MODEL_NAMES)


def create_sql(
    connection: BaseDatabaseWrapper,
    session_table: str | None = None,
    attribute_table: str | None = None,
) -> SchemaSQL:
    """The statements that create the tables on ``connection``'s vendor, without running them."""
    models = schema_models(session_table, attribute_table)
    with connection.schema_editor(collect_sql=True, atomic=False) as editor:
        for model in models:
            editor.create_model(model)
    tables: list[str] = []
    indexes: list[str] = []
    for statement in editor.collected_sql:
        is_index = statement.lstrip().upper().startswith("CREATE INDEX")
        (indexes if is_index else tables).append(statement)
    # mssql-django emits its indexes in set order, which varies between runs; sorted, the
    # scripts are reproducible (index order does not change the schema).
    return SchemaSQL(tables=tables, indexes=sorted(indexes))


def drop_sql(
    connection: BaseDatabaseWrapper,
    session_table: str | None = None,
    attribute_table: str | None = None,
) -> list[str]:
    """The statements that drop the tables, each before the tables it references."""
    models = schema_models(session_table, attribute_table)
    with connection.schema_editor(collect_sql=True, atomic=False) as editor:
        for model in reversed(models):
            editor.delete_model(model)
    return list(editor.collected_sql)


def without_semicolon(statement: str) -> str:
    """Collected statements end with ``;``, which Oracle's driver refuses."""
    return statement.rstrip().removesuffix(";")
