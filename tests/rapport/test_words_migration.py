"""Upgrading a database whose nudges were worded before talks were said as days."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.migrating import migrate_to, migrate_to_latest

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("relationships", "0006_merged_person")]
AFTER = [("relationships", "0007_nudge_reasons_in_days")]


@pytest.fixture
def old_apps():
    apps = migrate_to(BEFORE)
    yield apps
    migrate_to_latest()


def test_stored_nudge_reasons_are_rewritten_in_days_and_no_row_is_lost(old_apps):
    User = old_apps.get_model("auth", "User")
    Person = old_apps.get_model("relationships", "Person")
    Rapport = old_apps.get_model("relationships", "Rapport")
    Nudge = old_apps.get_model("relationships", "Nudge")
    alice = User.objects.create(username="alice")
    bob = User.objects.create(username="bob")

    def person(user, name, talks, inbound, outbound):
        p = Person.objects.create(user=user, name=name)
        Rapport.objects.create(person=p, user=user, talks=talks, inbound=inbound, outbound=outbound,
                               last_talk_on=dt.date(2026, 3, 1), tier="regular")
        return p

    ana = person(alice, "Ana", 6, {"reply": 7}, {"reply": 6})
    ben = person(alice, "Ben", 2, {"reply": 2}, {"reply": 1, "dm": 1})
    # Pal never answered: a reconnect nudge made before reconnecting needed both sides.
    pal = person(alice, "Pal", 13, {"like": 3}, {"reply": 14})
    nameless = person(bob, "", 1, {"mention": 1}, {"reply": 2})
    cleo = person(alice, "Cleo", 3, {"reply": 6, "repost": 4}, {})
    rows = [
        Nudge(user=alice, person=ana, kind="follow", state="open",
              reason="You've talked with Ana 6 times — follow them?"),
        Nudge(user=alice, person=ana, kind="reconnect", state="snoozed",
              reason="You've talked with Ana 12 times, but not in the last 75 days — say hello?"),
        Nudge(user=alice, person=ben, kind="follow", state="acted", outcome="following",
              reason="You've talked with Ben twice — follow them?"),
        Nudge(user=alice, person=pal, kind="reconnect", state="open",
              reason="You've talked with Pal 13 times, but not in the last 75 days — say hello?"),
        Nudge(user=bob, person=nameless, kind="follow", state="dismissed",
              reason="You've talked with them once — follow them?"),
        Nudge(user=alice, person=cleo, kind="shows_up", state="open",
              reason="Cleo replied to you 6 times and shared 4 of your posts — say thanks, or follow?"),
    ]
    Nudge.objects.bulk_create(rows)
    before = dict(Nudge.objects.values_list("pk", "state"))

    new_apps = migrate_to(AFTER)
    Nudge = new_apps.get_model("relationships", "Nudge")
    assert dict(Nudge.objects.values_list("pk", "state")) == before  # nothing lost, no state changed
    reasons = {(n.person.name, n.kind): n.reason for n in Nudge.objects.select_related("person")}
    assert reasons == {
        ("Ana", "follow"): "You've talked with Ana on 6 different days — follow them?",
        ("Ana", "reconnect"): "You've talked with Ana on 12 different days, but not in the last 75 days — say hello?",
        # Acted on: the figure it was acted on, in today's words.
        ("Ben", "follow"): "You've talked with Ben on 2 different days — follow them?",
        # Never a talk: said as what it is.
        ("Pal", "reconnect"): "You replied to Pal on 13 different days — 14 replies; no answer from Pal yet.",
        ("", "follow"): "You've talked with them on one day — follow them?",
        ("Cleo", "shows_up"): "Cleo replied to you 6 times and shared 4 of your posts — say thanks, or follow?",
    }
