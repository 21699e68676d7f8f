"""PostgreSQL-only search indexes (R-N1: fast at 3.8 million residents).

The derived name keys use collation "C", so one ordinary btree per key, (key, atena_no), serves both the prefix
search (``LIKE 'タカハシ%'``) and the result order (``ORDER BY key, atena_no``): a search stops after its first
page instead of sorting every match. Address fragments use a pg_trgm GIN index. Other databases keep plain scans.
Note: an AlterField on kana_key or kanji_key would reset their collation; repeat the ALTER COLUMN below then.
"""

from django.db import migrations

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    'ALTER TABLE integrations_resident ALTER COLUMN kana_key TYPE varchar(200) COLLATE "C",'
    ' ALTER COLUMN kanji_key TYPE varchar(200) COLLATE "C"',
    "CREATE INDEX resident_kana_order ON integrations_resident (kana_key, atena_no)",
    "CREATE INDEX resident_kanji_order ON integrations_resident (kanji_key, atena_no)",
    "CREATE INDEX resident_address_trgm ON integrations_resident USING gin (address_key gin_trgm_ops)",
    # A fine histogram: with the default, a short kana prefix (ムラ%) looks cheap to scan and the planner walks
    # tens of thousands of names instead of the 100-odd people born on the date also asked for.
    "ALTER TABLE integrations_resident ALTER COLUMN kana_key SET STATISTICS 1000,"
    " ALTER COLUMN kanji_key SET STATISTICS 1000",
]
BACKWARD = [
    "ALTER TABLE integrations_resident ALTER COLUMN kana_key SET STATISTICS -1,"
    " ALTER COLUMN kanji_key SET STATISTICS -1",
    "DROP INDEX IF EXISTS resident_kana_order",
    "DROP INDEX IF EXISTS resident_kanji_order",
    "DROP INDEX IF EXISTS resident_address_trgm",
    "ALTER TABLE integrations_resident ALTER COLUMN kana_key TYPE varchar(200) COLLATE \"default\","
    ' ALTER COLUMN kanji_key TYPE varchar(200) COLLATE "default"',
]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in FORWARD:
            schema_editor.execute(statement)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in BACKWARD:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("integrations", "0002_fo_example_mapping")]
    operations = [migrations.RunPython(forward, backward)]
