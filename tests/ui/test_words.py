"""The same words on every surface, and numbers a reader can add up.

Paz talks with alice on 5 different days in 12 posts, several on the same
day, both ways: every surface says "on 5 different days" where the count
appears and counts the breakdown as posts. Pal only ever got replies from
alice (14 replies on 13 days), Ines only mentioned alice (5 mentions on 4
days): neither is ever called a talk. Everything is seen twice, by an archive
and by a sync of the same account, which must not change a figure.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re

import pytest
from django.core import mail
from django.core.management import call_command
from django.urls import reverse

from relationships.models import Nudge, Person, Preferences, Source
from relationships.platforms import records as r
from relationships.services import digest
from relationships.services.intake import ingest
from relationships.services.scoring.rapport import local_today
from tests.ui.conftest import score

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}

PAZ_SAYS = "You've talked with Paz on 5 different days — 12 posts: 5 replies, 1 mention and 1 quote from Paz, " \
           "4 replies and 1 DM from you."
PAL_SAYS = "You replied to Pal on 13 different days — 14 replies; no answer from Pal yet."
INES_SAYS = "Ines mentioned you on 4 different days — 5 mentions; you haven't answered yet."
# Any wording that would call a history a talk.
TALK = re.compile(r"\btalk", re.IGNORECASE)


def key(name: str) -> str:
    return f"https://fedi.example/users/{name.lower()}"


def records(today: dt.date) -> list[r.Record]:
    def moment(days_ago: int, hour: int) -> dt.datetime:
        return dt.datetime.combine(today - dt.timedelta(days=days_ago), dt.time(hour, tzinfo=dt.UTC))

    out: list[r.Record] = []
    posts = iter(range(1, 1000))

    def post(name, kind, direction, days_ago, hour):
        out.append(r.InteractionRecord(
            platform=r.MASTODON, external_id=f"https://fedi.example/statuses/{next(posts)}", identity_id=key(name),
            kind=kind, direction=direction, occurred_at=moment(days_ago, hour),
        ))

    for name in ("Paz", "Pal", "Ines"):
        out.append(r.IdentityRecord(platform=r.MASTODON, external_id=key(name), handle=f"{name.lower()}@fedi.example",
                                    display_name=name))
    # Paz: a thread of four posts on one day, then four more days.
    for hour in (9, 10):
        post("Paz", r.REPLY, r.INBOUND, 2, hour)
        post("Paz", r.REPLY, r.OUTBOUND, 2, hour)
    post("Paz", r.MENTION, r.INBOUND, 5, 8)
    post("Paz", r.REPLY, r.OUTBOUND, 5, 9)
    post("Paz", r.DM, r.OUTBOUND, 9, 20)
    for hour in (7, 8, 9):
        post("Paz", r.REPLY, r.INBOUND, 12, hour)
    post("Paz", r.QUOTE, r.INBOUND, 15, 11)
    post("Paz", r.REPLY, r.OUTBOUND, 15, 12)
    # Pal: followed, written to on 13 days (twice on the last), never an answer; three likes from Pal.
    out.append(r.FollowRecord(platform=r.MASTODON, identity_id=key("Pal"), i_follow=True))
    for n in range(13):
        post("Pal", r.REPLY, r.OUTBOUND, 75 + 5 * n, 10)
    post("Pal", r.REPLY, r.OUTBOUND, 75, 18)
    for n in range(3):
        post("Pal", r.LIKE, r.INBOUND, 80 + n, 10)
    # Ines: five mentions of alice on four days.
    for days_ago, hour in ((3, 10), (3, 15), (6, 10), (10, 10), (20, 10)):
        post("Ines", r.MENTION, r.INBOUND, days_ago, hour)
    return out


@pytest.fixture
def today(alice):
    return local_today(Preferences.for_user(alice))


@pytest.fixture
def told(alice, make_source, today):
    """The archive and a sync of the same account both saw everything."""
    archive = make_source(alice, platform=r.MASTODON, handle="alice@home.example")
    account = make_source(alice, platform=r.MASTODON, kind=Source.Kind.ACCOUNT, handle="alice@home.example")
    ingest.ingest(alice, archive, records(today))
    ingest.ingest(alice, account, records(today))
    score(alice, today=today)
    return {name: Person.objects.get(user=alice, name=name) for name in ("Paz", "Pal", "Ines")}


def text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).replace("&#x27;", "'").split())


def test_the_dashboard_card_says_days_where_the_count_appears(alice_client, told):
    page = text(alice_client.get(reverse("dashboard")).content.decode())
    assert "You've talked with Paz on 5 different days — follow them?" in page
    assert "Pal" not in page  # a one-way history is nothing to reconnect
    assert "Ines mentioned you 5 times — say thanks, or follow?" in page


def test_the_people_list_says_days_and_one_way_histories_as_what_they_are(alice_client, told):
    rows = re.findall(r'<li class="person-row">.*?</li>\s*</ul>.*?</dl>', alice_client.get(reverse("people")).content.decode(), re.S)
    by_name = {re.search(r'class="pr-name"[^>]*>([^<]+)<', row)[1]: text(row) for row in rows}
    assert "Talks talked on 5 different days Last talked 2 days ago" in by_name["Paz"]
    assert "Talks you wrote on 13 different days; no answer yet Last talked never" in by_name["Pal"]
    assert "Talks wrote to you on 4 different days; not answered yet Last talked never" in by_name["Ines"]


def test_the_person_page_reconciles_days_and_posts(alice_client, told):
    page = text(alice_client.get(reverse("person", args=[told["Paz"].pk])).content.decode())
    assert "talked on 5 different days · last talked 2 days ago" in page
    assert PAZ_SAYS in page and "Last talked 2 days ago." in page


def test_a_nudge_card_keeps_the_words_after_an_action(alice_client, told):
    nudge = Nudge.objects.get(person=told["Paz"])
    card = text(alice_client.get(reverse("person", args=[told["Paz"].pk])).content.decode())
    assert "Suggested for you" in card and nudge.reason in card
    answer = text(alice_client.post(reverse("nudge_snooze", args=[nudge.pk]), **HTMX).content.decode())
    assert "You've talked with Paz on 5 different days — follow them?" in answer


def test_the_digest_lists_the_same_reasons(alice, told):
    Preferences.objects.filter(user=alice).update(digest_opt_in=True)
    assert digest.send_digests()["sent"] == 1
    body = mail.outbox[0].body
    assert "2 people to reach out to" in body and "real rapport" not in body
    assert "- You've talked with Paz on 5 different days — follow them?" in body
    assert "- Ines mentioned you 5 times — say thanks, or follow?" in body
    assert "Pal" not in body


def export(fmt: str) -> str:
    out = io.StringIO()
    call_command("export_people", "--user", "alice", "--format", fmt, stdout=out)
    return out.getvalue()


def test_the_exports_split_talk_days_from_one_way_days_and_carry_the_words(alice, told, today):
    people = {p["name"]: p for p in json.loads(export("json"))}
    assert (people["Paz"]["talk_days"], people["Paz"]["one_way_days"]) == (5, 0)
    assert people["Paz"]["explanation"] == f"{PAZ_SAYS} Last talked 2 days ago."
    assert sum(people["Paz"]["inbound"].values()) + sum(people["Paz"]["outbound"].values()) == 12
    assert (people["Pal"]["talk_days"], people["Pal"]["one_way_days"]) == (0, 13)
    assert people["Pal"]["explanation"] == f"{PAL_SAYS} Pal liked 3 of your posts. You last wrote to Pal 75 days ago."
    assert (people["Ines"]["talk_days"], people["Ines"]["one_way_days"]) == (0, 4)
    assert people["Ines"]["explanation"] == f"{INES_SAYS} Ines last wrote to you 3 days ago."
    rows = {row["name"]: row for row in csv.DictReader(io.StringIO(export("csv")))}
    for name, person in people.items():
        assert (rows[name]["talk_days"], rows[name]["one_way_days"]) == (str(person["talk_days"]), str(person["one_way_days"]))
        assert rows[name]["explanation"] == person["explanation"]


def test_the_rapport_command_prints_talk_days_and_the_same_words(alice, told):
    out = io.StringIO()
    call_command("rapport", "--user", "alice", stdout=out)
    header, *lines = out.getvalue().splitlines()
    assert header.split("\t") == ["name", "score", "talk_days", "tier", "explanation"]
    rows = {line.split("\t")[0]: line.split("\t") for line in lines}
    assert rows["Paz"][2] == "5" and rows["Paz"][4] == f"{PAZ_SAYS} Last talked 2 days ago."
    assert rows["Pal"][2] == "0" and rows["Pal"][4].startswith(PAL_SAYS)
    assert rows["Ines"][2] == "0" and rows["Ines"][4].startswith(INES_SAYS)


def test_a_one_way_history_is_never_called_a_talk_anywhere(alice, alice_client, told):
    pal, ines = told["Pal"], told["Ines"]
    assert not Nudge.objects.filter(person=pal).exists()
    for person in (pal, ines):
        page = alice_client.get(reverse("person", args=[person.pk])).content.decode()
        head = text(re.search(r'<header class="person-head">.*?</header>', page, re.S)[0])
        words = text(re.search(r'<ul class="sentences">.*?</ul>', page, re.S)[0])
        assert not TALK.search(head) and not TALK.search(words), (head, words)
    assert PAL_SAYS in text(alice_client.get(reverse("person", args=[pal.pk])).content.decode())
    for nudge in Nudge.objects.filter(person__in=[pal, ines]):
        assert not TALK.search(nudge.reason)
    people = {p["name"]: p for p in json.loads(export("json"))}
    for name in ("Pal", "Ines"):
        assert not TALK.search(people[name]["explanation"])
    out = io.StringIO()
    call_command("rapport", "--user", "alice", stdout=out)
    for line in out.getvalue().splitlines()[1:]:
        name, _, days, _, words = line.split("\t")
        if name in ("Pal", "Ines"):
            assert days == "0" and not TALK.search(words)


# -- An X archive alone -------------------------------------------------------------------------------------

def x_archive(path, today: dt.date):
    """Replies to Ana on 4 days (twice on one), mentions of Ben on 2, DMs with Cara both ways and a mention, 5 likes."""
    from tests.builders import x as xb

    ana, ben, cara = xb.XUser("1001", "ana", "Ana"), xb.XUser("1002", "ben", "Ben"), xb.XUser("1003", "cara", "Cara")

    def moment(days_ago: int, hour: int = 12) -> dt.datetime:
        return dt.datetime.combine(today - dt.timedelta(days=days_ago), dt.time(hour, tzinfo=dt.UTC))

    ids = iter(range(1_700_000_001, 1_800_000_000))
    tweets = [xb.reply(str(next(ids)), to=ana, at=moment(days, hour)) for days, hour in ((3, 9), (3, 17), (5, 12), (8, 12), (13, 12))]
    tweets += [xb.tweet(str(next(ids)), text=f"thanks @{ben.screen}", mentions=[ben], at=moment(days)) for days in (4, 9)]
    # Cara's name comes from this mention: X's DMs carry ids alone.
    tweets.append(xb.tweet(str(next(ids)), text=f"see you @{cara.screen}", mentions=[cara], at=moment(2, 8)))
    dms = [xb.conversation(xb.dm("9003", sender=xb.ME, recipient=cara, at=moment(6)),
                           xb.dm("9002", sender=xb.ME, recipient=cara, at=moment(2, 13)),
                           xb.dm("9001", sender=cara, recipient=xb.ME, at=moment(2, 12)))]
    return xb.build_x_archive(path, tweets=tweets, dms=dms, likes=5, followers=[ana])


def test_an_x_archive_alone_says_why_replies_to_the_user_are_missing_and_whom_they_reach_out_to(
    alice, alice_client, tmp_path, today
):
    archive = x_archive(tmp_path / "twitter.zip", today)
    for _ in range(2):  # the same archive uploaded twice: still X archives alone, nothing counted twice
        call_command("import_archive", str(archive), "--user", "alice", stdout=io.StringIO(), stderr=io.StringIO())
    page = alice_client.get(reverse("dashboard")).content.decode()
    section = re.search(r'<section class="card" id="x-archive-only".*?</section>', page, re.S)[0]
    section = " ".join(re.sub(r"<[^>]+>", "", section).replace("&#x27;", "'").split())
    assert "an X archive holds only what you did" in section
    assert "Replies, mentions, likes and reposts from others are not in it" in section
    assert section.index("Ana:") < section.index("Cara:") < section.index("Ben:")
    assert "Ana: You replied to Ana on 4 different days — 5 replies; an X archive cannot show whether Ana answered." \
        in section
    assert "Cara: You've talked with Cara on 2 different days — 4 posts: 1 DM from Cara, 1 mention and 2 DMs from you." \
        in section
    assert "Ben: You mentioned Ben on 2 different days — 2 mentions; an X archive cannot show whether Ben answered." \
        in section
    # The person page and the people list do not guess "no answer" either.
    ana = Person.objects.get(user=alice, name="Ana")
    assert "an X archive cannot show whether Ana answered" in text(
        alice_client.get(reverse("person", args=[ana.pk])).content.decode()
    )
    assert "you wrote on 4 different days; answers are not in X archives" in text(
        alice_client.get(reverse("people")).content.decode()
    )
    sources = text(alice_client.get(reverse("sources")).content.decode())
    assert "An X archive holds only what you did (and your direct messages): replies, mentions, likes and reposts " \
           "from others are not in it" in sources


def test_an_account_of_another_platform_needs_no_x_explanation(alice_client, alice, told):
    assert 'id="x-archive-only"' not in alice_client.get(reverse("dashboard")).content.decode()
    assert 'id="x-archive-only"' not in alice_client.get(reverse("sources")).content.decode()


def test_the_follow_threshold_is_set_in_days_talked(alice_client, told):
    page = text(alice_client.get(reverse("settings")).content.decode())
    assert "Days talked before a follow nudge" in page
    assert "A talk is a day with a reply, mention, quote or DM, and both of you must have taken part." in page


# -- Likes both ways are not a talk ---------------------------------------------------------------------------

def one_sided_with_likes_back(today: dt.date) -> list[r.Record]:
    """Theo: alice mentioned him on 5 days, he never wrote back; one like each way.
    Viktor: a fan who replied 5 times and liked 6 posts; alice liked one of his, never wrote."""
    def moment(days_ago: int) -> dt.datetime:
        return dt.datetime.combine(today - dt.timedelta(days=days_ago), dt.time(12, tzinfo=dt.UTC))

    out: list[r.Record] = [
        r.IdentityRecord(platform=r.MASTODON, external_id=key(name), handle=f"{name.lower()}@fedi.example",
                         display_name=name)
        for name in ("Theo", "Viktor")
    ]
    posts = iter(range(5000, 6000))

    def post(name, kind, direction, days_ago):
        out.append(r.InteractionRecord(
            platform=r.MASTODON, external_id=f"https://fedi.example/statuses/{next(posts)}", identity_id=key(name),
            kind=kind, direction=direction, occurred_at=moment(days_ago),
        ))

    for days_ago in (3, 8, 14, 20, 30):
        post("Theo", r.MENTION, r.OUTBOUND, days_ago)
    post("Theo", r.LIKE, r.INBOUND, 9)
    post("Theo", r.LIKE, r.OUTBOUND, 10)
    for days_ago in (2, 5, 11, 16, 22):
        post("Viktor", r.REPLY, r.INBOUND, days_ago)
    for days_ago in range(1, 7):
        post("Viktor", r.LIKE, r.INBOUND, days_ago)
    post("Viktor", r.LIKE, r.OUTBOUND, 4)
    return out


# "Both ways" and "talk" are two_way's words; a like back must never earn them.
BOTH_WAYS = re.compile(r"both ways|two-way|\btalk", re.IGNORECASE)


def test_likes_both_ways_are_never_called_a_talk_and_the_row_says_who_wrote(alice, alice_client, make_source, today):
    source = make_source(alice, platform=r.MASTODON, handle="alice@home.example")
    ingest.ingest(alice, source, one_sided_with_likes_back(today))
    score(alice, today=today)
    theo, viktor = (Person.objects.get(user=alice, name=name) for name in ("Theo", "Viktor"))
    assert not theo.rapport.two_way and not viktor.rapport.two_way
    assert theo.rapport.reciprocity > 0 and viktor.rapport.reciprocity > 0  # the score is still raised

    html = alice_client.get(reverse("people")).content.decode()
    reasons = dict(re.findall(r'class="pr-name" href="/people/\d+/">([^<]+)</a>.*?<p class="pr-why">([^<]+)</p>', html, re.S))
    assert reasons["Theo"] == f"One-sided, from you: 5 mentions, 1 like; from them: 1 like · score {theo.rapport.score:.2f}"
    assert reasons["Viktor"] == (
        f"One-sided, from them: 5 replies, 6 likes; from you: 1 like · score {viktor.rapport.score:.2f}"
    )

    for person in (theo, viktor):
        page = alice_client.get(reverse("person", args=[person.pk])).content.decode()
        head = text(re.search(r'<header class="person-head">.*?</header>', page, re.S)[0])
        words = text(re.search(r'<section class="card" aria-labelledby="why-title">.*?</section>', page, re.S)[0])
        assert "attention from each side to the other (likes included) raises it by" in words
        assert not BOTH_WAYS.search(head) and not BOTH_WAYS.search(words.replace("no talk yet", "")), (head, words)

    settings_page = text(alice_client.get(reverse("settings")).content.decode())
    assert "Attention from each side to the other, likes included, raises the score further." in settings_page

    nudges = Nudge.objects.filter(person__in=[theo, viktor])
    assert [n.reason for n in nudges] == ["Viktor replied to you 5 times — say thanks, or follow?"]
    dashboard = text(alice_client.get(reverse("dashboard")).content.decode())
    assert nudges[0].reason in dashboard
    Preferences.objects.filter(user=alice).update(digest_opt_in=True)
    assert digest.send_digests()["sent"] == 1
    assert "- Viktor replied to you 5 times — say thanks, or follow?" in mail.outbox[0].body
    assert not BOTH_WAYS.search(mail.outbox[0].body)

    out = io.StringIO()
    call_command("rapport", "--user", "alice", stdout=out)
    for line in out.getvalue().splitlines()[1:]:
        name, _, days, _, words = line.split("\t")
        assert days == "0" and not BOTH_WAYS.search(words), line
