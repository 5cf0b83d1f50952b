# An attribute row is named by its session and name: (session_id, name) becomes the primary key
# and the surrogate id goes, with the unique constraint the key replaces. On PostgreSQL that is
# one index and eight bytes fewer per attribute row; InnoDB keeps the rows in primary-key
# order, so a session's attributes are stored together and a load reads them in one range.
# Django cannot alter a table's primary key into a composite one, so each vendor gets its own
# statements (SQLite rebuilds the table, as Django does for any change there).
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import ProjectState
from django.db.models import Model

STEPS = [
    migrations.RemoveConstraint(model_name="attribute", name="dbsessions_attribute_session_name"),
    migrations.RemoveField(model_name="attribute", name="id"),
    migrations.AddField(
        model_name="attribute",
        name="pk",
        field=models.CompositePrimaryKey(
            "session", "name", blank=True, editable=False, primary_key=True, serialize=False
        ),
    ),
]


def _constraint_names(schema_editor: BaseDatabaseSchemaEditor, table: str) -> tuple[str, str]:
    """(primary key, unique (session_id, name)) constraint names, as the database has them."""
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    primary = next(name for name, c in constraints.items() if c["primary_key"])
    unique = next(
        name
        for name, c in constraints.items()
        if c["unique"] and not c["primary_key"] and c["columns"] == ["session_id", "name"]
    )
    return primary, unique


def _rebuild(schema_editor: BaseDatabaseSchemaEditor, model: type[Model]) -> None:
    """SQLite: the attribute table again as ``model`` (a historical model) creates it, its
    rows copied over, as Django rebuilds a SQLite table for any change."""
    quote = schema_editor.quote_name
    table = model._meta.db_table
    temporary = f"new__{table}"
    create, params = schema_editor.table_sql(model)
    schema_editor.execute(create.replace(quote(table), quote(temporary), 1), params or None)
    columns = ", ".join(quote(name) for name in ("session_id", "name", "value"))
    schema_editor.execute(
        f"INSERT INTO {quote(temporary)} ({columns}) SELECT {columns} FROM {quote(table)}"
    )
    schema_editor.execute(f"DROP TABLE {quote(table)}")
    schema_editor.execute(f"ALTER TABLE {quote(temporary)} RENAME TO {quote(table)}")


class AttributePrimaryKey(Operation):
    """``STEPS`` in the migration state; in the database, each vendor's ALTER TABLE."""

    reversible = True

    def state_forwards(self, app_label: str, state: ProjectState) -> None:
        for step in STEPS:
            step.state_forwards(app_label, state)

    def database_forwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: ProjectState,
        to_state: ProjectState,
    ) -> None:
        if not self._here(schema_editor, from_state, app_label):
            return
        vendor = schema_editor.connection.vendor
        if vendor == "sqlite":
            _rebuild(schema_editor, to_state.apps.get_model(app_label, "attribute"))
            return
        table = from_state.apps.get_model(app_label, "attribute")._meta.db_table
        primary, unique = _constraint_names(schema_editor, table)
        quote = schema_editor.quote_name
        key = f"{quote('session_id')}, {quote('name')}"
        if vendor == "mysql":
            # One statement: InnoDB needs an index on the foreign key's column throughout.
            statements = [
                f"ALTER TABLE {quote(table)} DROP PRIMARY KEY, DROP COLUMN {quote('id')}, "
                f"ADD PRIMARY KEY ({key}), DROP INDEX {quote(unique)}"
            ]
        else:
            statements = [
                f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(primary)}",
                f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(unique)}",
                f"ALTER TABLE {quote(table)} DROP COLUMN {quote('id')}",
                f"ALTER TABLE {quote(table)} ADD PRIMARY KEY ({key})",
            ]
        for statement in statements:
            schema_editor.execute(statement)

    def database_backwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: ProjectState,
        to_state: ProjectState,
    ) -> None:
        if not self._here(schema_editor, to_state, app_label):
            return
        model = to_state.apps.get_model(app_label, "attribute")
        vendor = schema_editor.connection.vendor
        if vendor == "sqlite":
            _rebuild(schema_editor, model)
            return
        table = model._meta.db_table
        quote = schema_editor.quote_name
        unique = f"{quote('dbsessions_attribute_session_name')} ({quote('session_id')}, " + (
            f"{quote('name')})"
        )
        if vendor == "postgresql":
            statements = [
                f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(table + '_pkey')}",
                f"ALTER TABLE {quote(table)} ADD COLUMN {quote('id')} bigint "
                "GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
                f"ALTER TABLE {quote(table)} ADD CONSTRAINT {unique.replace(' (', ' UNIQUE (', 1)}",
            ]
        elif vendor == "mysql":
            statements = [
                f"ALTER TABLE {quote(table)} ADD UNIQUE INDEX {unique}, DROP PRIMARY KEY, "
                f"ADD COLUMN {quote('id')} bigint AUTO_INCREMENT NOT NULL PRIMARY KEY FIRST"
            ]
        else:
            raise NotImplementedError(
                f"Unapplying dbsessions 0005 is not supported on {vendor}: restore the "
                "attribute table from a backup taken before it was applied."
            )
        for statement in statements:
            schema_editor.execute(statement)

    def _here(
        self, schema_editor: BaseDatabaseSchemaEditor, state: ProjectState, app_label: str
    ) -> bool:
        """Whether the router lets the attributes' table live on this database."""
        model = state.apps.get_model(app_label, "attribute")
        return bool(self.allow_migrate_model(schema_editor.connection.alias, model))

    def describe(self) -> str:
        return "Make (session, name) the primary key of the attributes, without their id"


class Migration(migrations.Migration):
    dependencies = [("dbsessions", "0004_no_like_indexes")]

    operations = [AttributePrimaryKey()]
