"""Bad config files: exit code 2 naming the file, the key and the reason."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from agent.config import load_agent_config
from collector.config import load_collector_config
from collector.server import ALONE_ON_SHARED_STATE, start_summary
from protocol.tomlconfig import ConfigError
from tests.services import VENV_BIN, run_collector


def run(program: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / program), *args], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ('[agent]\nsite = "A"\nintervall = 60\n', "agent.intervall", "unknown key"),
        ('[agent]\ninterval = "60"\n', "agent.interval", "expected an integer"),
        ("[agent]\ninterval = 0\n", "agent.interval", "must be at least 1"),
        (
            '[collector]\nurl = "ftp://x"\ntoken_file = "t"\n',
            "collector.url",
            "http:// or https://",
        ),
        ('[collector]\nurl = "https://c.example"\n', "collector.token_file", "required"),
        (
            '[[devices]]\nname = "r"\naddress = "192.0.2.1"\nkind = "toaster"\n',
            "devices[0].kind",
            "must be one of",
        ),
        ("[agent]\ninterval = true\n", "agent.interval", "got a boolean"),
        (
            '[[devices]]\nname = "r"\naddress = "192.0.2.1"\nkind = "printer"\n',
            "devices[0].snmp",
            "needs snmp or ssh",
        ),
        (
            '[[devices]]\nname = "r"\naddress = "192.0.2.1"\nkind = "ups"\n'
            'snmp = { version = "3", user = "u", auth_protocol = "SHA1024" }\n',
            "devices[0].snmp",
            "auth_protocol must be one of",
        ),
        (
            '[[devices]]\nname = "r"\naddress = "192.0.2.1"\nkind = "ups"\n'
            'snmp = { version = "2c", comunity = "x" }\n',
            "devices[0].snmp",
            "unknown key 'comunity'",
        ),
        (
            '[[devices]]\nname = "r"\naddress = "192.0.2.1:99999"\nkind = "router"\n',
            "devices[0].address",
            "bad port",
        ),
        (
            '[[devices]]\nname = "r"\naddress = "192.0.2.1"\nkind = "linux"\n'
            'ssh = { user = "root", key_file = "k", host_key = "AAAA" }\n',
            "devices[0].ssh",
            "host_key must read",
        ),
    ],
)
def test_agent_config_errors_name_key_and_reason(
    tmp_path: Path, text: str, key: str, reason: str
) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_agent_config(path)
    assert caught.value.key == key
    assert reason in caught.value.reason
    assert str(path) in str(caught.value)


def test_agent_cli_exits_2_on_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text("[agent\nsite = 1\n")
    done = run("vigie-agent", "run", "--config", str(path))
    assert done.returncode == 2
    assert str(path) in done.stderr and "invalid TOML" in done.stderr and "line 1" in done.stderr


def test_agent_cli_exits_2_on_a_missing_file(tmp_path: Path) -> None:
    done = run("vigie-agent", "run", "--config", str(tmp_path / "absent.toml"))
    assert done.returncode == 2
    assert "absent.toml: file not found" in done.stderr


def test_collector_cli_exits_2_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "collector.toml"
    path.write_text('[server]\nlisten = "127.0.0.1:8080"\n[storage]\nretention = 3\n')
    done = run("vigie-collector", "run", "--config", str(path))
    assert done.returncode == 2
    assert f"{path}: storage.retention: unknown key" in done.stderr


STORE = '[storage]\npath = "collector.db"\n'
MAIL = '[smtp]\nhost = "smtp.example.org"\n'


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ('[server]\nlisten = "nowhere"\n', "server.listen", "HOST:PORT"),
        ('[influxdb]\nurl = "http://i:8086"\napi = "v2"\n' + STORE, "influxdb.org", ""),
        ('[smtp]\nsecurity = "ssl"\n' + STORE, "smtp.security", ""),
        ('[alerts]\nrecipients = "support@example.org"\n' + STORE, "alerts.recipients", ""),
        # No store path must not mean a fresh empty store somewhere else.
        ('[server]\nlisten = "127.0.0.1:8080"\n', "storage.path", "required"),
        ('[storage]\npath = "nowhere/collector.db"\n', "storage.path", "does not exist"),
        ('[alerts]\nrecipients = ["support@example.org"]\n' + STORE, "alerts.recipients", "[smtp]"),
        (
            '[alerts.sites.Annonay]\nrecipients = ["mairie@annonay.fr"]\n' + STORE,
            "alerts.recipients",
            "[smtp]",
        ),
        (
            '[alerts]\nrecipients = ["support"]\n' + STORE + MAIL,
            "alerts.recipients",
            "'support' is not one mail address",
        ),
        (
            '[alerts]\nrecipients = ["a@x.fr, b@x.fr"]\n' + STORE + MAIL,
            "alerts.recipients",
            "not one mail address",
        ),
        (STORE + MAIL + 'sender = "Vigie"\n', "smtp.sender", "not one mail address"),
        (STORE + '[state]\nurl = "sqlite:///x.db"\n', "state.url", "postgresql://"),
        (STORE + '[state]\nurl = "postgresql://h/db"\npool_size = 1\n', "state.pool_size", ""),
        (STORE + '[state]\nurl = "postgresql://h/db"\npassword = "x"\n', "state.password", ""),
    ],
)
def test_collector_config_errors(tmp_path: Path, text: str, key: str, reason: str) -> None:
    path = tmp_path / "collector.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_collector_config(path)
    assert caught.value.key == key
    assert reason in str(caught.value)


def test_a_valid_agent_config_reads_every_section(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(
        '[agent]\nsite = "Saint-Agrève"\nhost = "mairie-pc1"\ninterval = 30\n'
        '[collector]\nurl = "https://vigie.example.org"\ntoken_file = "token"\n'
        '[spool]\npath = "spool.db"\nmax_mb = 20\n'
        '[[devices]]\nname = "routeur-mairie"\naddress = "192.0.2.1"\nkind = "router"\n'
        'snmp = { version = "2c", community = "public" }\n'
    )
    config = load_agent_config(path)
    assert (config.site, config.host, config.interval) == ("Saint-Agrève", "mairie-pc1", 30)
    assert config.collector.token_file == tmp_path / "token"
    assert config.spool.path == tmp_path / "spool.db" and config.spool.max_mb == 20
    assert config.devices[0].snmp is not None
    assert (config.devices[0].snmp.version, config.devices[0].snmp.community) == ("2c", "public")


def test_device_secrets_come_from_a_private_file(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[copieur.snmp]\ncommunity = "s3cret"\n')
    config = tmp_path / "agent.toml"
    config.write_text(
        f'[poller]\nsecrets_file = "{secrets}"\n'
        '[[devices]]\nname = "copieur"\naddress = "192.0.2.9:1161"\nkind = "printer"\n'
        'snmp = { version = "2c" }\n'
    )
    secrets.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        load_agent_config(config)
    secrets.chmod(0o600)
    (device,) = load_agent_config(config).devices
    assert device.snmp is not None
    assert device.snmp.community == "s3cret" and device.snmp.port == 1161
    assert device.host == "192.0.2.9"
    assert "s3cret" not in repr(device)  # secrets never reach a log line
    secrets.write_text('[copieur.snmp]\ncommunity = "x"\n[imprimante.snmp]\ncommunity = "x"\n')
    with pytest.raises(ConfigError, match="no device has this name"):
        load_agent_config(config)


def test_the_collector_says_at_start_what_it_will_do(tmp_path: Path) -> None:
    extra = (
        '[smtp]\nhost = "127.0.0.1"\nport = 2525\npassword = "s3cret-smtp"\n'
        '[alerts]\nrecipients = ["support@syndicat.fr"]\ndigest_hour = 7\n'
    )
    with run_collector(tmp_path, extra) as collector:
        assert collector.stop() == 0
        assert collector.proc is not None and collector.proc.stdout is not None
        output = collector.proc.stdout.read()
    assert f"store: {tmp_path}/collector.db" in output
    assert f"listening on {collector.url} (plain HTTP)" in output
    assert "InfluxDB mirror: off" in output
    assert "state: in the store" in output
    assert "mail: 127.0.0.1:2525 (none) from vigie@localhost to 1 recipients" in output
    assert "daily digest at 7 h" in output and "rules" in output
    assert "s3cret-smtp" not in output  # secrets never logged


def test_a_shared_state_without_victoriametrics_says_what_each_collector_sees(
    tmp_path: Path,
) -> None:
    path = tmp_path / "collector.toml"
    path.write_text(f'[storage]\npath = "{tmp_path}/c.db"\n'
                    '[state]\nurl = "postgresql://vigie@db.example.org/vigie"\n')  # fmt: skip
    lines = start_summary(load_collector_config(path), 31, 0)
    assert "series: the embedded store only" + ALONE_ON_SHARED_STATE in lines
    path.write_text(f'[storage]\npath = "{tmp_path}/c.db"\n')
    assert "series: the embedded store only" in start_summary(load_collector_config(path), 31, 0)
