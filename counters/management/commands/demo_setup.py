"""python manage.py demo_setup: the demo city — staff for every role, a counter with its terminal, the starter
forms, and ~10,000 synthetic residents written in the 住民記録 v1 layout to the object storage's inbound prefix
and loaded through the real importer. Safe to run again."""

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from counters.models import Counter, CounterGroup
from counters.navigation import navigation_seed_load
from devices.models import Terminal
from forms_engine.management.commands.load_starter_forms import result_summary
from forms_engine.services import form_starter_pack_load
from integrations.demo_city import demo_city_csv
from integrations.models import ImportOrigin, ImportRun, ImportStatus, Resident
from integrations.services import inbound_pickup
from integrations.storage import default_storage
from madoguchi.accounts.roles import ROLE_LABELS, Role

DEMO_PASSWORD = "madoguchi-demo"  # noqa: S105 - the demo's published password, never a real deployment
DEMO_TERMINAL_CODE = "DEMO01"
DEMO_TERMINAL_SECRET = "demo-terminal-secret"  # noqa: S105 - the demo agent's published secret


class Command(BaseCommand):
    help = "Create the demo city (users, counter, terminal, forms, residents). Idempotent."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--households", type=int, default=4200)
        parser.add_argument("--reload-residents", action="store_true", help="import the resident file again")

    def handle(self, *args: Any, households: int, reload_residents: bool, **options: Any) -> None:
        user_model = get_user_model()
        for role in Role:
            user, created = user_model.objects.get_or_create(
                username=f"demo-{role.value.replace('_', '-')}",
                defaults={
                    "display_name": f"デモ {ROLE_LABELS[role]}",
                    "is_staff": role == Role.SYSTEM_ADMIN,
                    "is_superuser": role == Role.SYSTEM_ADMIN,
                },
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save()
            user.groups.add(Group.objects.get_or_create(name=role.value)[0])

        terminal, _ = Terminal.objects.get_or_create(
            code=DEMO_TERMINAL_CODE, defaults={"name": "デモ端末", "secret": DEMO_TERMINAL_SECRET}
        )
        for result in form_starter_pack_load():
            self.stdout.write(f"form {result.template.code}: {result_summary(result)}")
        self.stdout.write(f"navigation: created {navigation_seed_load()}")
        # Two counters on the one demo terminal (its agent prints and reads cards for both), each in the ticket
        # group of its department, so a visit can be handed from 市民課 to 保険年金課.
        for code, name, department, group in (
            ("shimin-1", "市民課 1番窓口", "市民課", "shimin"),
            ("hoken-1", "保険年金課 1番窓口", "保険年金課", "hoken"),
        ):
            counter, _ = Counter.objects.get_or_create(
                code=code, defaults={"name": name, "department": department, "terminal": terminal}
            )
            if counter.group_id is None:
                counter.group = CounterGroup.objects.filter(code=group).first()
                counter.save(update_fields=["group"])

        if reload_residents or not Resident.objects.exists():
            storage = default_storage()
            stamp = timezone.localtime().strftime("%Y%m%d%H%M%S")
            key = f"{settings.INBOUND_PREFIX}JUKI_{stamp}_000001_FULL.csv"
            storage.put(key, demo_city_csv(households=households, ten=settings.MADOGUCHI_CHECK_DIGIT_TEN))
            # Through the real scheduled pick-up: the ledger shows the demo file like any other.
            pickup = inbound_pickup(storage=storage)
            run = ImportRun.objects.filter(origin=ImportOrigin.PICKUP, key=key).first()
            if run is None or run.status != ImportStatus.APPLIED:
                raise CommandError(
                    f"the demo city could not be imported: {pickup.message or (run and run.note)}"
                )
            self.stdout.write(f"{storage.describe(key)}: {Resident.objects.count()} residents")
        self.stdout.write(self.style.SUCCESS("demo city ready"))
