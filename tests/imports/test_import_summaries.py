"""Import summaries say what happened: follows recorded, nothing to import, counts with separators, sentences.

alice imports her own exports; ana is someone she talks with on Mastodon.
"""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from relationships.models import Identity, Interaction, Job, Source
from relationships.services.intake import jobs
from tests.builders import bluesky as bb
from tests.builders import mastodon as mb
from tests.imports.test_import_service import run

pytestmark = pytest.mark.django_db

ANA = mb.Account("https://fedi.example/users/ana", "@ana@fedi.example")


def following_csv(path, n):
    return mb.build_following_csv(path, [f"friend{i}@fedi.example,true,false," for i in range(n)])


def archive_with_ana(path):
    return mb.build_mastodon_archive(path, posts=[
        mb.note(1, "so true", mentions=[ANA], in_reply_to=ANA.status(7)),
        mb.note(2, "thanks!", mentions=[ANA]),
    ])


def test_a_following_csv_reports_the_follows_it_recorded_not_interactions(alice, tmp_path):
    path = following_csv(tmp_path / "following_accounts.csv", 1203)
    job, _ = run(alice, path)

    assert job.state == Job.State.DONE, job.error
    assert job.summary == "1,203 accounts you follow recorded."
    assert Identity.objects.filter(user=alice, i_follow=True).count() == 1203

    # The same list again: the same follows, said the same way, nothing doubled.
    again, _ = run(alice, path)
    assert again.summary == "1,203 accounts you follow recorded."
    assert Identity.objects.filter(user=alice).count() == 1203


def test_a_following_csv_with_a_bad_row_says_both(alice, tmp_path):
    path = mb.build_following_csv(tmp_path / "f.csv", ["ana@fedi.example,true,false,", "not an address,true,false,"])
    job, _ = run(alice, path)
    assert job.summary == (
        "1 account you follow recorded; 1 record skipped: row without a user@host account address (1)."
    )


@pytest.mark.parametrize("empty", ["bluesky repository", "mastodon archive", "following csv"])
def test_an_export_with_nothing_in_it_ends_done_at_100_percent_with_nothing_to_import(
    alice, alice_client, tmp_path, empty
):
    run(alice, archive_with_ana(tmp_path / "before.zip"))
    stored = Interaction.objects.filter(user=alice).count()
    path = {
        "bluesky repository": lambda: bb.build_bluesky_car(tmp_path / "repo.car", records={}).path,
        "mastodon archive": lambda: mb.build_mastodon_archive(tmp_path / "empty.zip", posts=[]),
        "following csv": lambda: following_csv(tmp_path / "following.csv", 0),
    }[empty]()

    job, _ = run(alice, path)

    assert job.state == Job.State.DONE, job.error
    assert job.percent == 100
    assert job.summary == "There was nothing to import: the file holds no interactions, follows or likes."
    assert "100%" in alice_client.get(reverse("job", args=[job.pk])).content.decode()
    assert Interaction.objects.filter(user=alice).count() == stored == 2


def test_an_archive_of_only_posts_to_oneself_has_nothing_to_import_and_says_what_it_skipped(alice, tmp_path):
    posts = [mb.note(1, "1/ a thread"), mb.note(2, "2/ more", in_reply_to=mb.ME.status(1)),
             mb.boost(3, "https://fedi.example/objects/9", author=None)]
    job, _ = run(alice, mb.build_mastodon_archive(tmp_path / "a.zip", posts=posts))
    assert job.summary == (
        "There was nothing to import; 1 record skipped: boost of a post whose author the archive does not name (1)."
    )


def test_progress_lines_on_the_sources_page_have_thousands_separators(alice, alice_client, make_source):
    source = make_source(alice, kind=Source.Kind.ARCHIVE)
    job = jobs.create(alice, kind="import", task_name="relationships.import_archive", source=source,
                      description="Import X archive", send_task=False)
    Job.objects.filter(pk=job.pk).update(
        state=Job.State.RUNNING, progress_done=17999, progress_total=40000,
        counts={"records_read": 18042, "new": 17999, "known": 1043},
    )
    page = alice_client.get(reverse("sources")).content.decode()
    assert "18,042 records read, 17,999 new, 1,043 already known" in page


def test_the_sources_page_counts_the_follows_a_list_recorded(alice, alice_client, tmp_path):
    run(alice, following_csv(tmp_path / "following.csv", 1203))
    assert "1,203 accounts you follow" in alice_client.get(reverse("sources")).content.decode()


def test_import_archive_prints_sentences_never_a_dict(alice, tmp_path):
    out = io.StringIO()
    call_command("import_archive", str(archive_with_ana(tmp_path / "a.zip")), user="alice", stdout=out,
                 stderr=io.StringIO())
    lines = out.getvalue().splitlines()
    assert lines[1:] == [
        "2 new interactions with 1 person.",
        "Rapport recomputed for 1 person; no new nudges.",
    ]
    assert not any(c in out.getvalue() for c in "{}")


def test_import_archive_of_an_empty_repository_says_there_was_nothing_to_import(alice, tmp_path):
    out = io.StringIO()
    path = bb.build_bluesky_car(tmp_path / "repo.car", records={}).path
    call_command("import_archive", str(path), user="alice", stdout=out, stderr=io.StringIO())
    assert "There was nothing to import: the file holds no interactions, follows or likes." in out.getvalue()
    assert "Rapport recomputed for 0 people; no new nudges." in out.getvalue()


def test_import_archive_of_a_following_list_scores_the_people_whose_follow_it_recorded(alice, tmp_path):
    out = io.StringIO()
    call_command("import_archive", str(following_csv(tmp_path / "following_accounts.csv", 1203)), user="alice",
                 stdout=out, stderr=io.StringIO())
    assert out.getvalue().splitlines()[1:] == [
        "1,203 accounts you follow recorded.",
        "Rapport recomputed for 1,203 people; no new nudges.",
    ]


def test_a_newer_archive_names_the_people_of_its_own_new_interactions_not_everyone_the_source_saw(alice, tmp_path):
    """50 friends in the first archive; the newer one repeats 20 tweets and adds 40 with 40 of them."""
    import datetime as dt

    from tests.builders import x as xb

    friends = [xb.XUser(str(770_000 + n), f"pal{n}", f"Pal {n}") for n in range(50)]

    def tweet(n, who):
        return xb.reply(str(1_600_000_000_000_000_000 + n), to=who, at=xb.BASE_TIME + dt.timedelta(hours=n))

    first = [tweet(n, friends[n % 50]) for n in range(60)]
    newer = first[40:] + [tweet(100 + n, friends[n]) for n in range(40)]
    done, _ = run(alice, xb.build_x_archive(tmp_path / "twitter-2023.zip", tweets=first))
    assert done.summary.startswith("60 new interactions with 50 people")

    again, _ = run(alice, xb.build_x_archive(tmp_path / "twitter-2024.zip", tweets=newer))
    assert again.summary.startswith("40 new interactions with 40 people; 20 already known")
    nothing, _ = run(alice, xb.build_x_archive(tmp_path / "twitter-2024-again.zip", tweets=newer))
    assert nothing.summary.startswith("0 new interactions; 60 already known")
