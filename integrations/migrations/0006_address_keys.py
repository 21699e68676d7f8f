"""The dictionary of the mirror's distinct address keys (AddressKey); its indexes and contents come in 0007 (after
this migration's deferred SQL, so the index Django adds for a character key can be dropped there)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("integrations", "0005_resident_source_digest")]

    operations = [
        migrations.CreateModel(
            name="AddressKey",
            fields=[
                (
                    "key",
                    models.CharField(max_length=300, primary_key=True, serialize=False, verbose_name="住所検索キー"),
                ),
            ],
            options={"verbose_name": "住所検索キー", "verbose_name_plural": "住所検索キー"},
        ),
    ]
