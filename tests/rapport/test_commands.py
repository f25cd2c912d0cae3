"""The command line people script against: `rapport` and `export_people`."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from relationships.models import Identity, Nudge, Person, Rapport
from relationships.platforms import records as r
from relationships.services.scoring import nudges, rapport
from relationships.services.scoring.sentences import rapport_sentences
from tests.rapport.stories import TODAY, at

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def ana(alice, story):
    """Ana as in the issue's example: replies and a mention from her, replies and a DM from alice, 12 likes."""
    story.someone("Ana").follow_state("Ana", i_follow=False, follows_me=True)
    for day in (2, 4, 6):
        story.said("Ana", r.REPLY, day)
    story.said("Ana", r.MENTION, 8)
    for day in (3, 5):
        story.answered("Ana", r.REPLY, day)
    story.answered("Ana", r.DM, 7)
    for day in range(10, 22):
        story.said("Ana", r.LIKE, day)
    story.someone("Bought").follow_state("Bought", follows_me=True)
    story.save()
    rapport.recompute(alice, today=TODAY)
    nudges.generate(alice, today=TODAY)
    return story.person("Ana")


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_rapport_prints_the_top_people_under_a_tab_separated_header(ana):
    lines = run("rapport", "--user", "alice").splitlines()
    assert lines[0] == "name\tscore\ttalk_days\ttier\texplanation"
    name, score, talks, tier, explanation = lines[1].split("\t")
    assert (name, talks, tier) == ("Ana", "7", "regular")
    assert score == f"{Rapport.objects.get(person=ana).score:.2f}"
    # The command speaks of the real today; the story happened around TODAY.
    days = (rapport.local_today(ana.user.preferences) - at(2).date()).days
    assert explanation == (
        "You've talked with Ana on 7 different days — 7 posts: 3 replies and 1 mention from Ana, 2 replies and 1 DM "
        "from you. "
        f"Ana liked 12 of your posts. Last talked {days} days ago."
    )
    assert lines[2].split("\t")[:4] == ["Bought", "0.00", "0", "silent"]
    assert len(lines) == 3


def test_rapport_limits_and_keeps_a_name_with_tabs_on_one_line(alice, ana):
    Person.objects.filter(pk=ana.pk).update(name="Ana\tthe\nfirst")
    lines = run("rapport", "--user", "alice", "--limit", "1").splitlines()
    assert len(lines) == 2
    assert lines[1].split("\t")[0] == "Ana the first"


def test_rapport_shows_only_the_users_own_people(alice, bob, ana):
    assert run("rapport", "--user", "bob").splitlines() == ["name\tscore\ttalk_days\ttier\texplanation"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("rapport", "--user", "nobody"), "No user named 'nobody'."),
        (("rapport", "--user", "alice", "--limit", "0"), "--limit must be at least 1."),
        (("export_people", "--user", "nobody", "--format", "json"), "No user named 'nobody'."),
        (("export_people", "--user", "alice", "--format", "xml"), "invalid choice: 'xml'"),
        (("export_people", "--user", "alice", "--format", "csv", "--output", "/nonexistent/dir/people.csv"),
         "Cannot write /nonexistent/dir/people.csv: directory /nonexistent/dir does not exist."),
    ],
)
def test_commands_fail_with_a_one_line_reason(alice, args, message):
    with pytest.raises(CommandError) as failure:
        run(*args)
    assert message in str(failure.value)
    assert "\n" not in str(failure.value)


def test_export_json_has_the_shape_of_the_issue(alice, ana):
    row = Rapport.objects.get(person=ana)
    people = json.loads(run("export_people", "--user", "alice", "--format", "json"))
    assert people[0] == {
        "id": ana.pk,
        "name": "Ana",
        "tier": "regular",
        "score": round(row.score, 2),
        "talk_days": 7,
        "one_way_days": 0,
        "first_interaction": f"{at(21).date()}T12:00:00Z",
        "last_interaction": f"{at(2).date()}T12:00:00Z",
        "identities": [
            {"platform": "mastodon", "external_id": "https://fedi.example/users/ana", "handle": "ana@fedi.example",
             "i_follow": False, "follows_me": True}
        ],
        "inbound": {"reply": 3, "mention": 1, "like": 12},
        "outbound": {"reply": 2, "dm": 1},
        "nudges": [{"kind": "follow", "state": "open", "until": None}],
        "explanation": " ".join(rapport_sentences(row, ana)),
        "tags": [],
    }
    bought = people[1]
    assert (bought["tier"], bought["score"], bought["first_interaction"], bought["inbound"]) == ("silent", 0.0, None, {})


def test_export_says_null_for_what_is_not_known(alice, ana, story):
    x_only = Person.objects.create(user=alice, name="Xavi")
    Identity.objects.create(user=alice, person=x_only, platform=r.X, external_id="1234567890123456789")
    snoozed = nudges.snooze(Nudge.objects.get(), days=30, today=TODAY)
    people = {p["name"]: p for p in json.loads(run("export_people", "--user", "alice", "--format", "json"))}
    assert people["Xavi"]["identities"] == [
        {"platform": "x", "external_id": "1234567890123456789", "handle": None, "i_follow": None, "follows_me": None}
    ]
    assert people["Xavi"]["tier"] is None  # never recomputed: not known, not guessed
    assert people["Ana"]["nudges"] == [
        {"kind": "follow", "state": "snoozed",
         "until": snoozed.snoozed_until.isoformat().replace("+00:00", "Z")}
    ]


def test_export_csv_has_one_row_per_person_under_the_documented_header(alice, ana, tmp_path):
    Identity.objects.create(user=alice, person=ana, platform=r.X, external_id="42", i_follow=True)
    target = tmp_path / "people.csv"
    run("export_people", "--user", "alice", "--format", "csv", "--output", str(target))
    rows = list(csv.reader(target.open(encoding="utf-8")))
    assert rows[0] == (
        "id,name,tier,score,talk_days,one_way_days,first_interaction,last_interaction,identities,i_follow,follows_me,"
        "in_reply,in_mention,in_quote,in_dm,in_repost,in_like,out_reply,out_mention,out_quote,out_dm,out_repost,"
        "out_like,open_nudges,explanation,tags"
    ).split(",")
    header, ana_row, bought_row = rows
    assert dict(zip(header, ana_row)) == {
        "id": str(ana.pk), "name": "Ana", "tier": "regular", "score": f"{Rapport.objects.get(person=ana).score:.2f}",
        "talk_days": "7", "one_way_days": "0", "first_interaction": f"{at(21).date()}T12:00:00Z",
        "last_interaction": f"{at(2).date()}T12:00:00Z",
        "identities": "mastodon:ana@fedi.example;x:42", "i_follow": "true", "follows_me": "true",
        "in_reply": "3", "in_mention": "1", "in_quote": "0", "in_dm": "0", "in_repost": "0", "in_like": "12",
        "out_reply": "2", "out_mention": "0", "out_quote": "0", "out_dm": "1", "out_repost": "0", "out_like": "0",
        "open_nudges": "follow", "explanation": " ".join(rapport_sentences(Rapport.objects.get(person=ana), ana)),
        "tags": "",
    }
    assert bought_row[header.index("i_follow")] == "false"
    assert list(tmp_path.iterdir()) == [target]  # no temporary file left behind


def test_an_export_of_nobody_is_an_empty_array(bob):
    assert json.loads(run("export_people", "--user", "bob", "--format", "json")) == []


def test_a_failing_command_exits_non_zero_with_one_line_on_stderr(tmp_path):
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp_path / 'cli.sqlite3'}", RAPPORT_VAR_DIR=str(tmp_path))
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, capture_output=True)
    done = subprocess.run([*manage, "rapport", "--user", "nobody"], env=env, capture_output=True, text=True)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == ["CommandError: No user named 'nobody'."]
