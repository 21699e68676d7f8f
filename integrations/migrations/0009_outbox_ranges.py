"""Batches hold id ranges of their destination's items instead of each item naming its batch, so forming a batch
rewrites no item; items keep their rows CSV-encoded as well (``csv``, ``row_count``) for the flush to join.

Existing batches get the range of the items they hold; an item still waiting whose id lies below its destination's
last batch is put again under a new id (same rows, same revision), so that no batch's range takes it in. Items
stored before get no ``csv``: the flush encodes their rows as it did."""

from django.db import migrations, models
from django.db.models import Max, Min


def to_ranges(apps, schema_editor):
    ExportBatch = apps.get_model("integrations", "ExportBatch")
    ExportDestination = apps.get_model("integrations", "ExportDestination")
    ExportItem = apps.get_model("integrations", "ExportItem")
    for batch in ExportBatch.objects.all():
        span = ExportItem.objects.filter(batch=batch).aggregate(first=Min("pk"), last=Max("pk"))
        batch.first_item_id, batch.last_item_id = span["first"] or 0, span["last"] or 0
        batch.save(update_fields=["first_item_id", "last_item_id"])
    for destination in ExportDestination.objects.all():
        cut = ExportBatch.objects.filter(destination=destination).aggregate(n=Max("last_item_id"))["n"] or 0
        destination.cut_through = cut
        destination.save(update_fields=["cut_through"])
        for item in ExportItem.objects.filter(destination=destination, batch=None, pk__lte=cut).order_by("pk"):
            item.delete()
            item.pk = None
            item.save()
    for item in ExportItem.objects.all().only("pk", "rows"):
        ExportItem.objects.filter(pk=item.pk).update(row_count=len(item.rows))


def to_links(apps, schema_editor):
    ExportBatch = apps.get_model("integrations", "ExportBatch")
    ExportItem = apps.get_model("integrations", "ExportItem")
    for batch in ExportBatch.objects.all():
        ExportItem.objects.filter(
            destination_id=batch.destination_id, pk__gte=batch.first_item_id, pk__lte=batch.last_item_id
        ).update(batch=batch)


class Migration(migrations.Migration):
    dependencies = [("integrations", "0008_outbox_batches")]

    operations = [
        migrations.AddField(
            model_name="exportbatch", name="first_item_id", field=models.BigIntegerField(default=0)
        ),
        migrations.AddField(
            model_name="exportbatch", name="last_item_id", field=models.BigIntegerField(default=0)
        ),
        migrations.AddField(
            model_name="exportdestination",
            name="cut_through",
            field=models.BigIntegerField(default=0, editable=False),
        ),
        migrations.AddField(model_name="exportitem", name="csv", field=models.TextField(blank=True)),
        migrations.AddField(
            model_name="exportitem", name="row_count", field=models.PositiveIntegerField(default=0)
        ),
        migrations.RunPython(to_ranges, to_links),
        migrations.RemoveIndex(model_name="exportitem", name="export_item_batch"),
        migrations.RemoveIndex(model_name="exportitem", name="export_item_unbatched"),
        migrations.RemoveField(model_name="exportitem", name="batch"),
        migrations.AddIndex(
            model_name="exportbatch",
            index=models.Index(fields=["destination", "last_item_id"], name="export_batch_range"),
        ),
        migrations.AddIndex(
            model_name="exportitem",
            index=models.Index(fields=["destination", "id"], name="export_item_destination"),
        ),
    ]
