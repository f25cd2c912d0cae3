"""Mastodon ``following_accounts.csv`` importer.

The CSV is recognised by its header row
``Account address,Show boosts,Notify on new posts,Languages`` (never by the
file name). Every data row is one item (the resume ``position`` counts rows,
blank ones included) and gives, for ``user@host``:

* ``IdentityRecord(platform="mastodon", external_id="https://host/users/user",
  handle="user@host", provisional=True)`` -- the actor URI is the Mastodon
  convention, a guess that ingest corrects when a real URI shows up;
* ``FollowRecord(i_follow=True)``;
* ``CountRecord("accounts_followed")``, so the import can say how many
  follows it recorded.

Progress is counted in rows (``unit = "rows"``).
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterator

from relationships.platforms.archives.base import ArchiveError, ArchiveImporter
from relationships.platforms.records import MASTODON, CountRecord, FollowRecord, IdentityRecord, Record, SkipRecord

FOLLOWING_HEADER = ["account address", "show boosts", "notify on new posts", "languages"]
# Mastodon's other account CSVs, by their whole (lower-cased) header row.
_OTHER_MASTODON_CSV = {
    "account address,hide notifications": "muted accounts",
}
_ADDRESS = re.compile(r"^@?(?P<user>[\w.-]+)@(?P<host>[\w-]+(?:\.[\w-]+)+)$")


def recognises(header: list[str]) -> bool:
    """Whether a CSV's lower-cased header cells are a following list's; another Mastodon CSV is refused by name."""
    if header[: len(FOLLOWING_HEADER)] == FOLLOWING_HEADER:
        return True
    other = _OTHER_MASTODON_CSV.get(",".join(header))
    if other:
        raise ArchiveError(
            f"This is Mastodon's {other} CSV, not the list of accounts you follow (following_accounts.csv)"
        )
    return False


class MastodonFollowingImporter(ArchiveImporter):
    kind = "mastodon-following"
    unit = "rows"

    def __init__(self, path: str | os.PathLike, *, skip: int = 0) -> None:
        super().__init__(skip=skip)
        self._path = path
        self._rows_read = 0
        self.total = sum(1 for _ in self._rows())

    def _rows(self) -> Iterator[list[str]]:
        try:
            with open(self._path, encoding="utf-8-sig", newline="") as handle:
                reader = csv.reader(handle)
                next(reader, None)  # the header row, checked by detection
                yield from reader
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ArchiveError(f"The following list is not a readable CSV ({exc})") from exc

    def _done(self) -> int:
        return self._rows_read

    def _items(self):
        for row in self._rows():
            self._rows_read += 1
            yield self._row, row, "row"

    def _row(self, row: list[str]) -> list[Record]:
        if not row or not any(cell.strip() for cell in row):
            return []
        match = _ADDRESS.match(row[0].strip())
        if not match:
            return [SkipRecord("row without a user@host account address", detail=row[0][:200])]
        user, host = match["user"], match["host"].lower()
        return [
            IdentityRecord(
                platform=MASTODON,
                external_id=f"https://{host}/users/{user}",
                handle=f"{user}@{host}",
                profile_url=f"https://{host}/@{user}",
                provisional=True,
            ),
            FollowRecord(platform=MASTODON, identity_id=f"https://{host}/users/{user}", i_follow=True),
            CountRecord("accounts_followed"),
        ]
