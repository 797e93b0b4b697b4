"""Location history and the interaction event log are append-only: PostgreSQL refuses UPDATEs.

Rows may still be deleted (account deletion cascades, retention jobs prune), but a recorded fact is
never rewritten. SQLite (the embedded demo) has no such trigger; the admin is read-only there too.
"""

from django.db import migrations

TABLES = ("users_locationping", "users_interactionevent")

FUNCTION = """
CREATE OR REPLACE FUNCTION vicino_reject_update() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: rows cannot be updated', TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION, params=None)  # params=None: '%' is PL/pgSQL, not a placeholder
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION vicino_reject_update();"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")
    schema_editor.execute("DROP FUNCTION IF EXISTS vicino_reject_update();")


class Migration(migrations.Migration):
    dependencies = [("users", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
