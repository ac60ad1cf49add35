"""Session fixtures: the real services the tests talk to (see tests/services.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import services, wine


@pytest.fixture(scope="session")
def influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[services.Influx]:
    """InfluxDB 1.6.7 on a free loopback port."""
    with services.run_influxdb(tmp_path_factory.mktemp("influxdb")) as influx:
        yield influx


@pytest.fixture(scope="session")
def snmpd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[services.SnmpAgent]:
    """net-snmp snmpd with v2c and v3 authPriv."""
    with services.run_snmpd(tmp_path_factory.mktemp("snmpd")) as agent:
        yield agent


@pytest.fixture(scope="session")
def snmpsim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[services.SnmpAgent]:
    """snmpsim serving recorded real-device walks."""
    with services.run_snmpsim(tmp_path_factory.mktemp("snmpsim")) as agent:
        yield agent


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[services.SshServer]:
    """OpenSSH sshd with a pinned host key and an authorized client key."""
    with services.run_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


@pytest.fixture(scope="session")
def smtp() -> Iterator[services.MailSink]:
    """An SMTP server keeping what it receives."""
    with services.run_smtp() as sink:
        yield sink


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[services.Browser]:
    """Headless Chromium."""
    with services.run_browser(tmp_path_factory.mktemp("chromium")) as chromium:
        yield chromium


@pytest.fixture(scope="session")
def windows(tmp_path_factory: pytest.TempPathFactory) -> Iterator[wine.Windows]:
    """python.org's Windows CPython 3.11 under Wine, the source tree on S:."""
    with wine.run_windows(tmp_path_factory.mktemp("wine")) as prefix:
        yield prefix


# The fixtures above start real peers: a test using one needs them (`-m "not services"`
# leaves it out of the fast loop). Modules whose every test starts its own processes say so
# with `pytestmark = pytest.mark.services`.
SERVICE_FIXTURES = frozenset({"influxdb", "snmpd", "snmpsim", "sshd", "smtp", "browser", "windows"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that use a service fixture."""
    for item in items:
        if SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.services)
