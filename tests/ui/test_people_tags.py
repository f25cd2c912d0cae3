"""Tags: the people list filtered by tag and searched by it, tags as links wherever they show, and in the CSV."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from relationships.models import Person
from relationships.platforms import records as r
from relationships.services import export
from relationships.services import people as people_service

pytestmark = pytest.mark.django_db


def rows(html: str) -> list[str]:
    """The names of the people list's rows, in order."""
    return [part.split("</a>")[0].split(">")[-1] for part in html.split('class="pr-name"')[1:]]


@pytest.fixture
def tagged(alice, bob, community, bob_story):
    """alice's Ana (Podcast, Lisbon), Ben (podcast, by another spelling) and Cleo (design); bob's Ana is tagged podcast."""
    def tag(user, name, *tags):
        person = Person.objects.get(user=user, name=name)
        people_service.save_notes(person, "", list(tags))
        return person

    bob_story.someone("Ana").said("Ana", r.REPLY, 2)
    bob_story.save()
    return {
        "ana": tag(alice, "Ana", "Podcast", "Lisbon"),
        "ben": tag(alice, "Ben", "podcast"),
        "cleo": tag(alice, "Cleo", "design"),
        "bobs_ana": tag(bob, "Ana", "podcast", "bob-only"),
    }


def test_the_list_filtered_by_a_tag_shows_only_the_users_people_with_it_in_any_case(alice_client, tagged):
    html = alice_client.get(reverse("people"), {"tag": "PODCAST"}).content.decode()
    assert sorted(rows(html)) == ["Ana", "Ben"]
    assert "2 people match" in html
    assert sorted(rows(alice_client.get(reverse("people"), {"tag": "design"}).content.decode())) == ["Cleo"]
    assert rows(alice_client.get(reverse("people"), {"tag": "bob-only"}).content.decode()) == []
    assert rows(alice_client.get(reverse("people"), {"tag": "pod"}).content.decode()) == []  # a whole tag only


def test_the_search_finds_people_by_a_tag_as_well_as_by_name(alice_client, tagged):
    assert rows(alice_client.get(reverse("people"), {"q": "lisb"}).content.decode()) == ["Ana"]
    assert sorted(rows(alice_client.get(reverse("people"), {"q": "podcast"}).content.decode())) == ["Ana", "Ben"]
    assert rows(alice_client.get(reverse("people"), {"q": "bob-only"}).content.decode()) == []
    # The htmx answer to the search box is the results partial, filtered the same way.
    partial = alice_client.get(reverse("people"), {"q": "design"}, HTTP_HX_REQUEST="true").content.decode()
    assert partial.lstrip().startswith('<section id="results"') and rows(partial) == ["Cleo"]


def test_tags_are_links_to_the_filtered_list_on_rows_and_on_the_person_page(alice_client, tagged):
    html = alice_client.get(reverse("people")).content.decode()
    assert '<a class="tag" href="/people/?tag=Podcast">Podcast</a>' in html
    assert '<a class="tag" href="/people/?tag=design">design</a>' in html
    assert "bob-only" not in html
    person = alice_client.get(reverse("person", args=[tagged["ana"].pk])).content.decode()
    assert 'href="/people/?tag=Lisbon"' in person and "Everyone tagged Lisbon" in person
    # The link leads where it says.
    assert rows(alice_client.get("/people/?tag=Lisbon").content.decode()) == ["Ana"]


def test_bob_never_sees_alices_tags(client, bob, tagged):
    client.force_login(bob)
    html = client.get(reverse("people"), {"tag": "podcast"}).content.decode()
    assert rows(html) == ["Ana"] and "Lisbon" not in html
    assert rows(client.get(reverse("people"), {"q": "design"}).content.decode()) == []


def test_the_csv_has_a_tags_column_with_each_persons_own_tags(alice, bob, tagged):
    out = io.StringIO()
    export.write(alice, "csv", out)
    table = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert list(table[0])[-1] == "tags"
    by_name = {row["name"]: row["tags"] for row in table}
    assert by_name["Ana"] == "Podcast;Lisbon" and by_name["Ben"] == "podcast" and by_name["Dan"] == ""
    assert "bob-only" not in out.getvalue()
    theirs = io.StringIO()
    export.write(bob, "csv", theirs)
    assert [row["tags"] for row in csv.DictReader(io.StringIO(theirs.getvalue()))] == ["podcast;bob-only"]
