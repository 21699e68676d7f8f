"""Address fragments are searched in a dictionary of the distinct address keys (AddressKey, with the trigram
index on PostgreSQL), then residents are found by their key (a plain index on Resident.address_key). This
replaces migration 0003's trigram index over every resident, which had to gather every matching resident before
a page could be cut from them (R-N1: a broad fragment at 3.8 million residents took hundreds of milliseconds)."""

from django.db import migrations

POSTGRES_FORWARD = [
    # Code-point order, so the least and greatest key begin with what every key begins with
    # (integrations.selectors.address_keys_containing).
    'ALTER TABLE integrations_addresskey ALTER COLUMN key TYPE varchar(300) COLLATE "C"',
    "CREATE INDEX resident_address_key ON integrations_resident (address_key)",
    "DROP INDEX IF EXISTS resident_address_trgm",
    "CREATE INDEX addresskey_trgm ON integrations_addresskey USING gin (key gin_trgm_ops)",
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS addresskey_trgm",
    "CREATE INDEX resident_address_trgm ON integrations_resident USING gin (address_key gin_trgm_ops)",
    "DROP INDEX IF EXISTS resident_address_key",
]
FILL = "INSERT INTO integrations_addresskey (key) SELECT DISTINCT address_key FROM integrations_resident"
# On PostgreSQL in no particular order, as integrations.mirror fills it (matching keys spread over the table).
POSTGRES_FILL = (
    "INSERT INTO integrations_addresskey (key) "
    "SELECT key FROM (SELECT DISTINCT address_key AS key FROM integrations_resident) d ORDER BY md5(key)"
)


def forward(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        for statement in POSTGRES_FORWARD:
            schema_editor.execute(statement)
        # The varchar_pattern_ops twin Django makes for a character key: no prefix search runs on it.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT indexname FROM pg_indexes "
                "WHERE tablename = 'integrations_addresskey' AND right(indexname, 5) = '_like'"
            )
            for (name,) in cursor.fetchall():
                schema_editor.execute(f'DROP INDEX "{name}"')
        schema_editor.execute(POSTGRES_FILL)
    else:
        schema_editor.execute("CREATE INDEX resident_address_key ON integrations_resident (address_key)")
        schema_editor.execute(FILL)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in POSTGRES_BACKWARD:
            schema_editor.execute(statement)
    else:
        schema_editor.execute("DROP INDEX IF EXISTS resident_address_key")


class Migration(migrations.Migration):
    dependencies = [("integrations", "0006_address_keys")]
    operations = [migrations.RunPython(forward, backward)]
