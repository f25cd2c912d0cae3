"""The pages bench's split of a first view (templates, SQL, the rest): `make bench` is not in CI, this is."""

from __future__ import annotations

import pytest
from django.template.backends.django import Template

from bench import pages_bench
from relationships.models import Job, Source


@pytest.fixture
def people(alice):
    """Five of alice's people with a rapport, from an archive of 40 interactions."""
    from bench.common import synthetic_records
    from relationships.services.intake.ingest import ingest
    from relationships.services.intake.rescore import rescore

    source = Source.objects.create(user=alice, platform="mastodon", kind=Source.Kind.ARCHIVE)
    ingest(alice, source, list(synthetic_records(40, identities=5)))
    rescore(alice)


@pytest.mark.django_db
def test_each_first_view_is_split_into_templates_sql_and_the_rest(alice_client, alice, people, monkeypatch):
    monkeypatch.setattr(pages_bench, "ROUNDS", 3)
    job = Job.objects.create(user=alice, kind="recompute", state=Job.State.DONE, description="Recompute rapport")
    pages = {
        "trivial": (f"/jobs/{job.pk}/", {}),
        # An htmx filter answers with a partial of people.html: its rendering is the template's too.
        "people filtered (htmx)": ("/people/?q=User", {"HX-Request": "true"}),
    }
    seen = []

    def get(path, headers):
        response = alice_client.get(path, headers=headers, secure=True)
        assert response.status_code == 200
        seen.append(response.content.decode())

    render = Template.render
    parts = pages_bench._where_the_time_goes(get, pages, alice)

    assert Template.render is render  # the clock is taken off again
    assert len(seen) == 2 * 3
    assert "<html" not in seen[1] and 'class="pr-name"' in seen[1]  # the partial, with its rows
    for name in pages:
        templates, sql, rest, raw, reads = parts[name]
        assert templates > 0, name
        assert sql > 0, name
        assert rest > 0, name
        assert raw > 0, name
    # The job page reads the session, the user, the banner's heartbeats and the job (nothing more: it is the floor).
    assert parts["trivial"][4] == 4
    assert parts["people filtered (htmx)"][4] > 4
