"""The one list of platforms: each package declares its connector and archive kinds, and everything reads them."""

import pytest

from relationships import platforms
from relationships.platforms import archives, base, records
from relationships.platforms.archives.base import ArchiveImporter


def test_the_records_contract_and_the_registry_name_the_same_platforms():
    assert records.PLATFORMS == platforms.PLATFORMS
    assert {records.MASTODON, records.BLUESKY, records.X} == set(platforms.PLATFORMS)


@pytest.mark.parametrize("platform", platforms.PLATFORMS)
def test_every_platform_package_declares_what_it_offers_and_it_loads(platform):
    package = platforms.package(platform)
    assert hasattr(package, "CONNECTOR") and hasattr(package, "ARCHIVES")
    if package.CONNECTOR:
        assert issubclass(base.get_connector(platform), base.Connector)
        assert base.get_connector(platform).platform == platform
    for kind in platforms.archive_kinds():
        if kind.platform == platform:
            assert issubclass(platforms.load(platform, kind.importer), ArchiveImporter)
            assert not kind.recognises or callable(platforms.load(platform, kind.recognises))
            assert kind.form == platforms.CAR or kind.refusal


def test_live_platforms_are_those_with_a_connector_and_archive_kinds_are_unique():
    assert base.live_platforms() == (records.MASTODON, records.BLUESKY)
    assert archives.KINDS == ("x", "mastodon", "mastodon-following", "bluesky")
    with pytest.raises(KeyError):
        platforms.package("myspace")
