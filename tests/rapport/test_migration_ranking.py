"""Upgrading to the two-way ranking (migration 0008): every stored Rapport row gets its group, none is lost,
and only the reconnect nudges made of a one-way history go.

The database is built at the previous main's last migration (0007_nudge_reasons_in_days) with the historical models: people,
their accounts and interactions, and the Rapport rows the scoring of that version stored. Migrating forward
must keep every row and its figures, and give each its group exactly as a recompute from the interactions
would.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from relationships.models import Rapport
from relationships.services.scoring import rapport
from tests.rapport.stories import TODAY, at

BEFORE = [("relationships", "0007_nudge_reasons_in_days")]
AFTER = [("relationships", "0008_rapport_two_way_ranking")]

# name: (interactions as (kind, direction, days ago, named_count), score and tier as the previous version stored them)
PEOPLE = {
    "Reggie": ([("reply", "in", d, 1) for d in range(200, 207)] + [("reply", "out", d, 1) for d in range(200, 207)],
               22.50, "regular"),
    "Faye": ([("like", "in", d, 1) for d in range(1, 61)], 23.35, "fan"),
    "Pal": ([("reply", "out", d, 1) for d in range(70, 83)], 21.04, "one_way"),
    # Mentions in posts naming 12 people, answered by a reply: no direct exchange from Mass's side.
    "Mass": ([("mention", "in", d, 12) for d in (3, 4, 5)] + [("reply", "out", 6, 1)], 7.12, "new"),
    "Bought": ([], 0.0, "silent"),
}


def _counts(events, direction):
    counts = {}
    for kind, way, _days, named in events:
        if way == direction:
            counts[kind] = counts.get(kind, 0) + 1
            if kind == "mention" and named > 5:
                counts["mass_mention"] = counts.get("mass_mention", 0) + 1
    return counts


def _build_before(apps):
    User = apps.get_model("auth", "User")
    Person = apps.get_model("relationships", "Person")
    Identity = apps.get_model("relationships", "Identity")
    Interaction = apps.get_model("relationships", "Interaction")
    RapportBefore = apps.get_model("relationships", "Rapport")
    post = 0
    for username in ("alice", "bob"):
        user = User.objects.create(username=username)
        for name, (events, score, tier) in PEOPLE.items():
            person = Person.objects.create(user=user, name=name)
            identity = Identity.objects.create(
                user=user, person=person, platform="mastodon", external_id=f"https://fedi.example/users/{name.lower()}",
                handle=f"{name.lower()}@fedi.example", display_name=name,
            )
            for kind, direction, days, named in events:
                post += 1
                Interaction.objects.create(
                    user=user, identity=identity, platform="mastodon", kind=kind, direction=direction,
                    external_id=f"https://fedi.example/statuses/{post}", occurred_at=at(days),
                    day=TODAY - dt.timedelta(days=days), named_count=named,
                )
            RapportBefore.objects.create(
                person=person, user=user, score=score, tier=tier, talks=len({d for k, _w, d, n in events
                                                                             if k != "like" and n <= 5}),
                inbound=_counts(events, "in"), outbound=_counts(events, "out"),
            )
    # Reconnect nudges as the previous version made them: toward Pal (one-way) and Reggie (two-way).
    Nudge = apps.get_model("relationships", "Nudge")
    for username, name, state in (("alice", "Pal", "open"), ("bob", "Pal", "dismissed"), ("alice", "Reggie", "open")):
        person = Person.objects.get(user__username=username, name=name)
        Nudge.objects.create(user=person.user, person=person, kind="reconnect", state=state, strength=20.0,
                             reason=f"You've talked with {name} 13 times, but not in the last 70 days — say hello?")
    # A row damaged by hand: counts that are no mapping must not stop the upgrade.
    damaged = Person.objects.create(user=User.objects.get(username="bob"), name="Damaged")
    RapportBefore.objects.create(person=damaged, user=damaged.user, score=1.0, tier="acquaintance", inbound=[1, 2],
                               outbound="reply")


@pytest.mark.django_db(transaction=True)
def test_upgrading_groups_every_stored_row_as_a_recompute_would_and_loses_none():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        _build_before(executor.loader.project_state(BEFORE).apps)
        executor = MigrationExecutor(connection)
        executor.migrate(AFTER)
        state = executor.loader.project_state(AFTER).apps.get_model("relationships", "Rapport")
        rows = {
            (owner, name): (two_way, score, tier)
            for owner, name, two_way, score, tier in state.objects.values_list(
                "user__username", "person__name", "two_way", "score", "tier"
            )
        }
        assert len(rows) == 2 * len(PEOPLE) + 1  # no row lost
        for owner in ("alice", "bob"):
            # Figures carried over as they were; the group added from each row's own counts.
            assert {name: rows[owner, name] for name in PEOPLE} == {
                "Reggie": (True, 22.50, "regular"), "Faye": (False, 23.35, "fan"), "Pal": (False, 21.04, "one_way"),
                "Mass": (False, 7.12, "new"), "Bought": (False, 0.0, "silent"),
            }
        assert rows["bob", "Damaged"] == (False, 1.0, "acquaintance")
        # The reconnect nudge made of Pal's one-way history is withdrawn; bob's "never" and Reggie's stay.
        nudge = executor.loader.project_state(AFTER).apps.get_model("relationships", "Nudge")
        assert sorted(nudge.objects.values_list("user__username", "person__name", "state")) == [
            ("alice", "Reggie", "open"), ("bob", "Pal", "dismissed"),
        ]
        ranked = state.objects.filter(user__username="alice").order_by(*rapport.RANK_ORDER)
        assert list(ranked.values_list("person__name", flat=True)) == ["Reggie", "Faye", "Pal", "Mass", "Bought"]
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    # The live recompute, from the interactions, agrees with what the migration stored.
    from django.contrib.auth import get_user_model

    alice = get_user_model().objects.get(username="alice")
    migrated = dict(Rapport.objects.filter(user=alice).values_list("person__name", "two_way"))
    rapport.recompute(alice, today=TODAY)
    assert dict(Rapport.objects.filter(user=alice).values_list("person__name", "two_way")) == migrated
