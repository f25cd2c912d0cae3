"""Every Person of a user as JSON or CSV: the shapes people script against.

Used by ``manage.py export_people`` and, later, the download on the people
page. The shapes are a contract (issue 3): names, nulls and column order
change only with a note to the people who script their install.

Note for scripts: ``talks`` became ``talk_days`` and ``one_way_days``
(issue "Trust II"): it counted days of one-way histories as talks. Their
sum is the old figure. ``explanation`` was added, then ``tags`` (the user's
own tags, joined by ";" in the CSV) last.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections.abc import Iterator
from typing import IO

from django.db.models import Prefetch

from relationships.models import Identity, Nudge, Person, Preferences
from relationships.platforms import records as r
from relationships.services.scoring.rapport import local_today
from relationships.services.scoring.sentences import rapport_sentences, talk_days

FORMATS = ("json", "csv")
# Kinds in the order the CSV columns name them.
KINDS = r.KINDS
CSV_HEADER = (
    ["id", "name", "tier", "score", "talk_days", "one_way_days", "first_interaction", "last_interaction",
     "identities", "i_follow", "follows_me"]
    + [f"in_{kind}" for kind in KINDS]
    + [f"out_{kind}" for kind in KINDS]
    + ["open_nudges", "explanation", "tags"]
)
_CHUNK = 500
# A cell starting with one of these is run as a formula by Excel, LibreOffice or Google Sheets
# (`=HYPERLINK(...)` in someone's display name or a post's excerpt): CSV injection.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def _utc(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _kinds(counts: dict | None) -> dict[str, int]:
    # Only interaction kinds: Rapport rows also keep helper counts (mass mentions).
    counts = counts or {}
    return {kind: counts[kind] for kind in KINDS if counts.get(kind)}


def _people(user):
    return (
        Person.objects.filter(user=user)
        .select_related("rapport")
        .prefetch_related(
            Prefetch("identities", queryset=Identity.objects.order_by("platform", "pk")),
            Prefetch("nudges", queryset=Nudge.objects.order_by("kind")),
        )
        .order_by("pk")
    )


def person_dict(person: Person, prefs: Preferences | None = None) -> dict:
    """One person in the JSON shape; Rapport figures are null if never computed.

    ``talk_days`` are days with a direct exchange when both sides took part
    (the "talked on N different days" of every page), ``one_way_days`` the
    same days of a history only one side took part in; one of them is 0.
    ``inbound`` / ``outbound`` count posts by kind. ``explanation`` is the
    person page's sentences. Pass ``prefs`` to save a query per person.
    """
    rapport = getattr(person, "rapport", None)
    prefs = prefs or Preferences.objects.get_or_create(user_id=person.user_id)[0]
    days = talk_days(rapport) if rapport else (None, None)
    return {
        "id": person.pk,
        "name": person.name,
        "tier": rapport.tier if rapport else None,
        "score": round(rapport.score, 2) if rapport else None,
        "talk_days": days[0],
        "one_way_days": days[1],
        "first_interaction": _utc(rapport.first_interaction_at) if rapport else None,
        "last_interaction": _utc(rapport.last_interaction_at) if rapport else None,
        "identities": [
            {
                "platform": ident.platform,
                "external_id": ident.external_id,
                "handle": ident.handle or None,
                "i_follow": ident.i_follow,
                "follows_me": ident.follows_me,
            }
            for ident in person.identities.all()
        ],
        "inbound": _kinds(rapport.inbound if rapport else None),
        "outbound": _kinds(rapport.outbound if rapport else None),
        "nudges": [
            {
                "kind": nudge.kind,
                "state": nudge.state,
                "until": _utc(nudge.snoozed_until) if nudge.state == Nudge.State.SNOOZED else None,
            }
            for nudge in person.nudges.all()
        ],
        "explanation": " ".join(rapport_sentences(rapport, person, prefs=prefs, today=local_today(prefs))) if rapport else None,
        "tags": list(person.tags or []),
    }


def people(user) -> Iterator[dict]:
    """Every person of ``user`` as JSON-shaped dicts, by id, in bounded memory."""
    prefs = Preferences.for_user(user)
    for person in _people(user).iterator(chunk_size=_CHUNK):
        yield person_dict(person, prefs)


def csv_row(item: dict) -> list:
    """One JSON-shaped person as the CSV columns of CSV_HEADER."""
    def flag(name: str) -> str:
        return "true" if any(ident[name] for ident in item["identities"]) else "false"

    identities = ";".join(
        f"{ident['platform']}:{ident['handle'] or ident['external_id']}" for ident in item["identities"]
    )
    row = [
        item["id"],
        item["name"],
        item["tier"] or "",
        "" if item["score"] is None else f"{item['score']:.2f}",
        "" if item["talk_days"] is None else item["talk_days"],
        "" if item["one_way_days"] is None else item["one_way_days"],
        item["first_interaction"] or "",
        item["last_interaction"] or "",
        identities,
        flag("i_follow"),
        flag("follows_me"),
    ]
    row += [item["inbound"].get(kind, 0) for kind in KINDS]
    row += [item["outbound"].get(kind, 0) for kind in KINDS]
    row.append(";".join(n["kind"] for n in item["nudges"] if n["state"] == Nudge.State.OPEN))
    row.append(item["explanation"] or "")
    row.append(";".join(item["tags"]))
    return row


def write(user, fmt: str, out: IO[str]) -> int:
    """Write every person of ``user`` to the text stream ``out``; return how many.

    Raises ValueError for an unknown format.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: choose json or csv")
    return write_items(out, fmt, people(user), CSV_HEADER, csv_row)


def spreadsheet_safe(cell):
    """``cell`` as text a spreadsheet shows rather than runs: a leading apostrophe before a formula's first character.

    Numbers stay numbers, a negative one included ("-3" or "-0.50" runs nothing); only text is changed.
    """
    if isinstance(cell, str) and cell.startswith(_FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def write_items(out: IO[str], fmt: str, items, header, to_row) -> int:
    """``items`` as CSV (``header``, then ``to_row(item)`` per line) or as a JSON array; returns how many.

    CSV cells pass through spreadsheet_safe; JSON is data for programs and stays as stored.
    The array is written item by item, so a large export never sits in memory whole.
    """
    count = 0
    if fmt == "csv":
        # RFC 4180's CRLF: the csv module quotes a cell holding any character of the line terminator, so with
        # "\n" alone a carriage return inside an excerpt went out bare and split the row in two.
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(header)
        for item in items:
            writer.writerow([spreadsheet_safe(cell) for cell in to_row(item)])
            count += 1
        return count
    out.write("[")
    for item in items:
        out.write(",\n" if count else "\n")
        out.write(json.dumps(item, ensure_ascii=False))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count
