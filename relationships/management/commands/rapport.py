"""``manage.py rapport --user NAME [--limit 20]``: a user's top people, tab-separated."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from relationships.models import Preferences, Rapport
from relationships.services.scoring import rapport
from relationships.services.scoring.sentences import rapport_sentences, talk_days

HEADER = ("name", "score", "talk_days", "tier", "explanation")


def _cell(text: str) -> str:
    # A tab or newline inside a name would shift every column after it.
    return " ".join(str(text).split())


class Command(BaseCommand):
    help = (
        "Print a user's top people by rapport (two-way first, then by score) as tab-separated lines under the header "
        "name, score, talk_days, tier, explanation. talk_days are the days with a direct exchange "
        "when both sides took part (0 for a one-way history, which the explanation describes). Shows the "
        "stored figures (refreshed after each sync and nightly)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, metavar="NAME", help="The username whose people to list.")
        parser.add_argument("--limit", type=int, default=20, help="How many people (default 20).")

    def handle(self, *args, user, limit, **options):
        if limit < 1:
            raise CommandError("--limit must be at least 1.")
        try:
            owner = get_user_model().objects.get_by_natural_key(user)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user named {user!r}.") from None
        prefs = Preferences.for_user(owner)
        today = rapport.local_today(prefs)
        top = (
            Rapport.objects.filter(user=owner, person__hidden=False)
            .select_related("person")
            .order_by(*rapport.RANK_ORDER, "person__name", "person_id")[:limit]
        )
        self.stdout.write("\t".join(HEADER))
        for row in top:
            words = " ".join(rapport_sentences(row, row.person, today=today, prefs=prefs))
            self.stdout.write(
                "\t".join(
                    [_cell(row.person.display_name), f"{row.score:.2f}", str(talk_days(row)[0]), row.tier, _cell(words)]
                )
            )
