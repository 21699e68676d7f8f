"""PostgreSQL-only search indexes (R-N1): prefix search on the kana and kanji keys under any collation, and
trigram search for address fragments. Other databases keep the plain indexes of 0001."""

from django.db import migrations

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX resident_kana_prefix ON integrations_resident (kana_key varchar_pattern_ops)",
    "CREATE INDEX resident_kanji_prefix ON integrations_resident (kanji_key varchar_pattern_ops)",
    "CREATE INDEX resident_address_trgm ON integrations_resident USING gin (address_key gin_trgm_ops)",
]
BACKWARD = [
    "DROP INDEX IF EXISTS resident_kana_prefix",
    "DROP INDEX IF EXISTS resident_kanji_prefix",
    "DROP INDEX IF EXISTS resident_address_trgm",
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
