"""The platforms Rapport reads: one package each, and the one list of them.

Adding a platform is one folder and one line:

1. a package ``relationships/platforms/<name>/``, named as the platform its
   records carry, whose ``__init__`` declares what the platform offers
   without importing any of it:

   ``CONNECTOR``
       ``"module:Class"`` of its live
       :class:`~relationships.platforms.base.Connector`, the module within
       the package; None when the platform has archives only;
   ``ARCHIVES``
       the :class:`ArchiveKind`\\ s of the exports its users upload;

2. its name in :data:`PLATFORMS`.

The records contract (``records.PLATFORMS``), the connector registry
(:mod:`relationships.platforms.base`) and the archive detection
(:mod:`relationships.platforms.archives`) read the platforms from here. This
module imports nothing of the project, so every other module can import it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, replace
from functools import cache
from types import ModuleType
from typing import Any

#: Every platform, by package name; a message that lists exports lists them in this order.
PLATFORMS = ("x", "mastodon", "bluesky")

#: How an export is told apart: a zip or tar(.gz) by its member names, a CSV
#: by its header row, a CAR (a repository's blocks) by being one.
CONTAINER = "container"
CSV = "csv"
CAR = "car"


@dataclass(frozen=True)
class ArchiveKind:
    """One kind of export a platform's users upload.

    ``kind`` names it (stored with the uploaded file); ``name`` is what a
    message calls it ("a Mastodon archive"); ``form`` is :data:`CONTAINER`,
    :data:`CSV` or :data:`CAR`. ``importer`` and ``recognises`` are
    ``"module:name"`` within the platform's package, imported when needed:
    the :class:`~relationships.platforms.archives.base.ArchiveImporter`, and
    for a container or a CSV the function that tells from the member names,
    or the lower-cased header cells, whether a file is of this kind (it may
    raise an ``ArchiveError`` that names a near miss). ``refusal`` says what
    a file lacks to be of this kind ("a Mastodon archive (no outbox.json)").
    ``platform`` is filled in from the package.
    """

    kind: str
    name: str
    form: str
    importer: str
    recognises: str = ""
    refusal: str = ""
    platform: str = ""


def package(platform: str) -> ModuleType:
    """The package of ``platform``; ``KeyError`` for a platform not in :data:`PLATFORMS`."""
    if platform not in PLATFORMS:
        raise KeyError(platform)
    return importlib.import_module(f"{__name__}.{platform}")


def load(platform: str, path: str) -> Any:
    """What ``"module:name"`` names within the package of ``platform``."""
    module_name, _, name = path.partition(":")
    return getattr(importlib.import_module(f"{__name__}.{platform}.{module_name}"), name)


@cache
def connectors() -> dict[str, str]:
    """``"module:Class"`` of each live connector, by platform."""
    found = {platform: getattr(package(platform), "CONNECTOR", None) for platform in PLATFORMS}
    return {platform: path for platform, path in found.items() if path}


@cache
def archive_kinds() -> tuple[ArchiveKind, ...]:
    """Every kind of export, platform by platform."""
    return tuple(
        replace(kind, platform=platform) for platform in PLATFORMS for kind in getattr(package(platform), "ARCHIVES", ())
    )
