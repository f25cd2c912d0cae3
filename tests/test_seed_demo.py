"""seed_demo: a believable community, written through ingest, scored by a Job, never twice."""

import io
from collections import Counter

import pytest
from django.core.management import CommandError, call_command

from relationships.models import Interaction, Job, Nudge, Person, Rapport
from relationships.services.intake import jobs, runs

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch):
    from config.celery_app import app

    calls = []
    monkeypatch.setattr(app, "send_task", lambda name, kwargs=None, **kw: calls.append((name, kwargs)))
    return calls


def test_seed_demo_is_refused_in_production_mode(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="only with DEBUG on"):
        call_command("seed_demo")


def test_seed_demo_builds_a_community_with_every_tier_and_nudges_of_each_kind(settings, sent, django_user_model, django_capture_on_commit_callbacks):
    settings.DEBUG = True
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", stdout=out)
    demo = django_user_model.objects.get(username="demo")
    assert demo.check_password("demo")
    assert "password 'demo'" in out.getvalue()
    people = Person.objects.filter(user=demo).count()
    interactions = Interaction.objects.filter(user=demo).count()
    assert 350 <= people <= 450
    assert 25_000 <= interactions <= 35_000
    job = Job.objects.get(user=demo, kind="seed")
    assert sent == [("relationships.seed_demo", {"job_id": job.pk})]

    # What the worker does with the job:
    outcome = jobs.execute(job.pk, runs.seed_demo)
    assert outcome.state == Job.State.DONE
    tiers = Counter(Rapport.objects.filter(user=demo).values_list("tier", flat=True))
    assert set(tiers) == set(Rapport.Tier.values)
    # The bought followers: many, all silent, none nudged.
    assert tiers["silent"] >= 150
    assert not Nudge.objects.filter(user=demo, person__rapport__tier="silent").exists()
    open_kinds = Counter(Nudge.objects.filter(user=demo, state="open").values_list("kind", flat=True))
    assert all(open_kinds[kind] >= 3 for kind in Nudge.Kind.values), open_kinds


def test_seeding_twice_duplicates_nothing(settings, sent, django_user_model):
    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())
    demo = django_user_model.objects.get(username="demo")
    counts = (Person.objects.filter(user=demo).count(), Interaction.objects.filter(user=demo).count())
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    assert (Person.objects.filter(user=demo).count(), Interaction.objects.filter(user=demo).count()) == counts
    assert "0 new interactions" in out.getvalue()


def test_the_demo_x_source_holds_only_what_an_x_archive_holds_and_two_way_people_still_rank_first(alice):
    from relationships.platforms import records as r
    from relationships.services import demo
    from relationships.services.scoring import rapport

    counts = {}
    demo.seed_records(alice, progress=lambda platform, result: counts.update({platform: result.counts}))
    rapport.recompute(alice)
    on_x = Interaction.objects.filter(user=alice, platform=r.X)
    # The user's own posts and DMs either way: nothing others did but write a DM, no like with an author.
    assert on_x.filter(direction="out").exists()
    assert not on_x.filter(direction="in").exclude(kind="dm").exists()
    assert not on_x.filter(kind="like").exists()
    assert counts[r.X].get("likes_without_author", 0) > 0  # counted on the source, as the X importer does

    ranked = list(Rapport.objects.filter(user=alice).order_by(*rapport.RANK_ORDER).values_list("tier", "two_way"))
    assert {tier for tier, _ in ranked[:10]} <= {"close", "regular"}
    last_two_way = max(i for i, (_, two_way) in enumerate(ranked) if two_way)
    first_fan = min(i for i, (tier, _) in enumerate(ranked) if tier == "fan")
    assert last_two_way < first_fan
    tiers = Counter(tier for tier, _ in ranked)
    assert tiers["close"] >= 5 and tiers["regular"] >= 15 and tiers["fan"] >= 30


def test_the_demo_communitys_fifteen_people_on_two_platforms_are_all_suggested_and_nothing_else(alice):
    import random

    from relationships.models import Identity
    from relationships.services import demo, merge_suggestions

    people = demo._people(random.Random(7))
    by_index = {p.index: p for p in people}
    twins = {frozenset({(p.platform, p.external_id), (by_index[p.twin_of].platform, by_index[p.twin_of].external_id)})
             for p in people if p.twin_of is not None}
    assert len(twins) == 15
    demo.seed_records(alice)
    found = merge_suggestions.for_user(alice)
    assert {frozenset({(s.identity.platform, s.identity.external_id),
                       (s.other_identity.platform, s.other_identity.external_id)}) for s in found} == twins
    # Every sign the demo shows is read: the same name (with and without accents), handle, profile link, rel=me.
    assert Counter(s.rule for s in found) == {"name": 6, "handle": 4, "link": 3, "verified_link": 2}
    assert Identity.objects.filter(user=alice, name_key="quinn garcia").count() == 2
