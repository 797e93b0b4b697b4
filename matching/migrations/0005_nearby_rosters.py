# The nearby list reads cached cell rosters (matching.nearby.rosters) instead of walking the cells on every
# request: the walk becomes the roster build, and each profile carries its taste vector, which PostgreSQL
# keeps up to date itself, so a build reads 120 bytes a person instead of making them from two JSON objects.

import importlib

from django.db import migrations

# Same expression as migration 0003's index (matching.nearby.privacy.snap_cell_sql), so the index serves it.
SNAP_CELL = (
    "(left(loc.geohash, 5) || translate(substr(loc.geohash, 6, 1), "
    "'0123456789bcdefghjkmnpqrstuvwxyz', '0022446688bbddffhhkknnqqssuuwwyy'))"
)

# The cells in the order given. A cell with a known count (a cached roster, known[i] >= 0) only counts it;
# any other is read from the expression index, its `per_cell` freshest locations, freshest first. The walk
# stops as soon as the people counted reach `needed`, so a cold cache reads about what the request uses,
# however dense the area, in one round trip. ROWS 300 tells the planner it returns few rows.
ROSTERS_FUNCTION = f"""
CREATE OR REPLACE FUNCTION vicino_nearby_rosters(
    cells text[], known integer[], fresh_after timestamptz, per_cell integer, needed integer
)
RETURNS TABLE (cell_position integer, person_id bigint, located_at timestamptz)
LANGUAGE plpgsql STABLE ROWS 300 AS $rosters$
DECLARE
    cell_index integer := 1;
    total integer := coalesce(array_length(cells, 1), 0);
    taken integer := 0;
    rows_read integer;
BEGIN
    WHILE cell_index <= total AND taken < needed LOOP
        IF known[cell_index] >= 0 THEN
            taken := taken + known[cell_index];
        ELSE
            RETURN QUERY
                SELECT cell_index, loc.user_id, loc.updated_at
                FROM users_location loc
                WHERE {SNAP_CELL} = cells[cell_index]
                  AND loc.updated_at >= fresh_after
                ORDER BY loc.updated_at DESC, loc.user_id
                LIMIT per_cell;
            GET DIAGNOSTICS rows_read = ROW_COUNT;
            taken := taken + rows_read;
        END IF;
        cell_index := cell_index + 1;
    END LOOP;
END
$rosters$;
"""


# matching.nearby.tastes.taste_vector, frozen as of this migration: interests then activity preferences in
# this order; a number clamped to [0, 1], anything else 0. (tests/matching/test_nearby_rosters.py checks the
# column against the Python function key by key: a taxonomy change needs a migration that redefines it.)
TASTE_KEYS = (
    ("interests", (
        "sports", "fitness", "outdoors", "music", "arts", "food", "coffee", "nightlife", "travel", "reading",
        "technology", "gaming", "movies", "photography", "fashion", "shopping", "wellness", "volunteering",
        "pets", "family",
    )),
    ("activity_preferences", (
        "badminton", "tennis", "basketball", "football", "running", "cycling", "hiking", "climbing", "yoga",
        "board_games",
    )),
)  # fmt: skip


def _taste_expression() -> str:
    """A bytea of big-endian float32, one per key. Clamped as a numeric (any JSON number fits), then
    through float8, as Python's float() does."""
    terms = []
    for field, keys in TASTE_KEYS:
        for key in keys:
            value = f"{field} -> '{key}'"
            clamped = f"least(greatest(({value})::numeric, 0), 1)::float8::float4"
            terms.append(f"float4send(CASE jsonb_typeof({value}) WHEN 'number' THEN {clamped} ELSE 0 END)")
    return " || ".join(terms)


def _walk_migration():
    return importlib.import_module("matching.migrations.0003_nearby_experiments")


def create_rosters(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE users_profile ADD COLUMN nearby_taste bytea "
            f"GENERATED ALWAYS AS ({_taste_expression()}) STORED"
        )
        schema_editor.execute(ROSTERS_FUNCTION)
        schema_editor.execute(
            "DROP FUNCTION IF EXISTS vicino_nearby_walk(text[], timestamptz, bigint, integer)"
        )


def drop_rosters(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        _walk_migration().create_nearby_walk(apps, schema_editor)
        schema_editor.execute(
            "DROP FUNCTION IF EXISTS vicino_nearby_rosters(text[], integer[], timestamptz, integer, integer)"
        )
        schema_editor.execute("ALTER TABLE users_profile DROP COLUMN IF EXISTS nearby_taste")


class Migration(migrations.Migration):
    dependencies = [
        ("matching", "0004_lookalike_campaigns"),
        ("users", "0005_profile_lifetime_value_opt_out_tags"),
    ]

    operations = [migrations.RunPython(create_rosters, drop_rosters)]
