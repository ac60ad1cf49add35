"""install.sh for real, into roots the test builds (no chroot: `--root` prefixes every path):
collector and agent installed from this checkout, the agent enrolled over TLS with a test CA,
data flowing; a reused code and a wrong CA refused; upgrade keeps the data; uninstall removes
the units; the units pass `systemd-analyze verify`."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from tests.services import free_port, make_ca, process, unavailable, wait_for

ROOT = Path(__file__).parent.parent
INSTALL = str(ROOT / "install.sh")
PASSWORD = "correct horse battery"


def sh(*args: str, check: bool = True, **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*args], capture_output=True, text=True, timeout=600, **kwargs)  # type: ignore[call-overload]
    if check and done.returncode != 0:
        raise AssertionError(f"{args} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("install")
    ca, cert, key = make_ca(base / "pki", "Vigie")
    collector_root = base / "central"
    port = free_port()
    password = base / "password"
    password.write_text(PASSWORD + "\n")
    sh(
        INSTALL,
        "collector",
        "--root",
        str(collector_root),
        "--no-start",
        "--listen",
        f"127.0.0.1:{port}",
        "--tls-cert",
        str(cert),
        "--tls-key",
        str(key),
        "--admin",
        "marie",
        "--admin-password-file",
        str(password),
    )
    return {"base": base, "ca": ca, "root": collector_root, "port": Path(str(port))}


def install_agent(
    root: str, url: str, *options: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """./install.sh agent into `root` (systemd left alone) reporting to `url`."""
    return sh(
        INSTALL, "agent", "--root", root, "--no-start", "--collector", url, *options, check=check
    )


def collector_cli(root: Path, *args: str) -> str:
    binary = str(root / "opt/vigie/venv/bin/vigie-collector")
    return sh(binary, *args, "--config", str(root / "etc/vigie/collector.toml")).stdout.strip()


@pytest.mark.services  # install.sh builds a virtualenv and starts the collector and agent
def test_install_enroll_over_tls_and_data_flows(installed: dict[str, Path]) -> None:
    base, root, ca = installed["base"], installed["root"], installed["ca"]
    port = int(str(installed["port"]))
    url = f"https://127.0.0.1:{port}"
    config = root / "etc/vigie/collector.toml"
    assert f'tls_cert = "{base}/pki/cert.pem"' in config.read_text()
    assert collector_cli(root, "user", "list") == "marie\ttechnician"
    binary = str(root / "opt/vigie/venv/bin/vigie-collector")
    with process([binary, "run", "--config", str(config)]) as proc:
        wait_for(lambda: _https_ok(f"{url}/healthz", ca), 60, "installed collector", proc)
        code = collector_cli(root, "enroll", "create", "--site", "Privas")
        agent_root = base / "mairie-pc"
        install_agent(
            str(agent_root),
            url,
            "--enroll",
            code,
            "--site",
            "Privas",
            "--host",
            "mairie-pc",
            "--ca-file",
            str(ca),
        )
        token = agent_root / "etc/vigie/agent.token"
        assert token.stat().st_mode & 0o777 == 0o600
        # twice: nothing changes, no second enrollment
        again = install_agent(
            str(agent_root),
            url,
            "--enroll",
            code,
            "--site",
            "Privas",
            "--ca-file",
            str(ca),
        )
        assert "already enrolled" in again.stdout and "wrote" not in again.stdout
        # the same code elsewhere: refused
        other = install_agent(
            str(base / "thief"),
            url,
            "--enroll",
            code,
            "--site",
            "Privas",
            "--ca-file",
            str(ca),
            check=False,
        )
        assert other.returncode != 0 and "already used" in other.stderr
        assert 'step "enroll with' in other.stderr and "run again" in other.stderr
        # a collector certificate from another CA: refused before anything is sent
        wrong_ca, _, _ = make_ca(base / "other-pki", "Rogue")
        fresh = collector_cli(root, "enroll", "create", "--site", "Privas")
        rogue = install_agent(
            str(base / "rogue"),
            url,
            "--enroll",
            fresh,
            "--ca-file",
            str(wrong_ca),
            check=False,
        )
        assert rogue.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in rogue.stderr
        agent = [
            str(agent_root / "opt/vigie/venv/bin/vigie-agent"),
            "run",
            "--config",
            str(agent_root / "etc/vigie/agent.toml"),
        ]
        config_text = (
            (agent_root / "etc/vigie/agent.toml")
            .read_text()
            .replace("[agent]\n", "[agent]\ninterval = 1\n")
        )
        (agent_root / "etc/vigie/agent.toml").write_text(config_text)
        with process(agent):
            reader = collector_cli(root, "token", "create", "--role", "reader")
            deadline = time.monotonic() + 90
            series: object = []
            while time.monotonic() < deadline and not series:
                time.sleep(1)
                series = _https_json(
                    f"{url}/api/v1/query?measurement=cpu&field=usage_idle&host=mairie-pc",
                    ca,
                    reader,
                )["series"]
            assert series, "no data from the installed agent"
    db = root / "var/lib/vigie/collector.db"
    before = sqlite3.connect(db).execute("SELECT count(*) FROM sample").fetchone()[0]
    assert before > 0
    # upgrade: data and config kept, the store opened (and migrated) by the new code
    config_before = config.read_text()
    sh(INSTALL, "upgrade", "--root", str(root), "--no-start")
    assert config.read_text() == config_before
    assert sqlite3.connect(db).execute("SELECT count(*) FROM sample").fetchone()[0] == before
    verify_unit(root / "etc/systemd/system/vigie-collector.service")
    # uninstall: units and program gone, data kept; --purge removes it
    sh(INSTALL, "uninstall", "--root", str(root), "--no-start")
    assert not (root / "etc/systemd/system/vigie-collector.service").exists()
    assert not (root / "opt/vigie").exists() and db.exists()
    sh(INSTALL, "uninstall", "--root", str(root), "--no-start", "--purge")
    assert not db.exists()


def verify_unit(unit: Path) -> None:
    """`systemd-analyze verify` passes (the ExecStart program must exist)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        unavailable("systemd-analyze is not installed")
    done = sh(str(analyze), "verify", str(unit), check=False)
    assert done.returncode == 0, done.stderr


@pytest.mark.services
def test_agent_unit_passes_systemd_analyze(installed: dict[str, Path]) -> None:
    (unit,) = (installed["base"] / "mairie-pc").glob("etc/systemd/system/*.service")
    verify_unit(unit)


@pytest.mark.services  # a virtualenv built for real, migrating a real PostgreSQL
def test_collector_install_writes_the_distributed_configuration(tmp_path: Path) -> None:
    """One of several collectors: its state in PostgreSQL (password in a libpq password file
    the unit hands over as a credential), its series forwarded to VictoriaMetrics nodes."""
    from tests.services import run_postgres

    password = tmp_path / "pg-password"
    password.write_text("s3cret:with\\odd\n")
    root = tmp_path / "collector-2"
    with run_postgres() as postgres:
        url = postgres.create_database("vigie")
        sh(INSTALL, "collector", "--root", str(root), "--no-start", "--state-url", url,
           "--state-password-file", str(password),
           "--victoriametrics", "http://10.0.0.21:8428,http://10.0.0.22:8428")  # fmt: skip
        with psycopg.connect(url) as conn:  # install.sh's first run migrated the shared state
            parts: dict[str, int] = dict(conn.execute("SELECT name, version FROM schema_part"))
    assert parts.keys() == {"tokens", "inventory", "alerts", "silences", "mail", "accounts",
                            "latest"}  # fmt: skip
    config = (root / "etc/vigie/collector.toml").read_text()
    assert f'[state]\nurl = "{url}"' in config and "s3cret" not in config
    assert '[series]\nbackend = "victoriametrics"\n' in config
    assert 'urls = ["http://10.0.0.21:8428", "http://10.0.0.22:8428"]' in config
    pgpass = root / "etc/vigie/pgpass"
    assert pgpass.read_text() == "*:*:*:*:s3cret\\:with\\\\odd\n"
    assert pgpass.stat().st_mode & 0o777 == 0o600
    (unit,) = root.glob("etc/systemd/system/*.service")
    assert "LoadCredential=pgpass:/etc/vigie/pgpass\nEnvironment=PGPASSFILE=%d/pgpass" in (
        unit.read_text()
    )
    verify_unit(unit)
    done = sh(INSTALL, "collector", "--root", str(root), "--no-start", "--state-url", "mysql://x",
              check=False)  # fmt: skip
    assert done.returncode != 0 and "--state-url must be a postgresql:// URL" in done.stderr


def test_not_root_and_missing_options_are_clear(tmp_path: Path) -> None:
    done = sh(INSTALL, "agent", "--root", str(tmp_path), "--collector", "https://x", check=False)
    assert done.returncode != 0 and "--enroll CODE is required" in done.stderr
    done = sh(INSTALL, "frobnicate", check=False)
    assert done.returncode == 2 and "install.sh agent" in done.stdout


def _https_ok(url: str, ca: Path) -> bool:
    try:
        _https_json(url, ca, "")
        return True
    except OSError:
        return False


def _https_json(url: str, ca: Path, token: str) -> dict[str, object]:
    """GET over HTTPS verified against the test CA."""
    import json
    import ssl
    import urllib.error
    import urllib.request

    context = ssl.create_default_context(cafile=str(ca))
    request = urllib.request.Request(
        url, headers={"Authorization": f"Token {token}"} if token else {}
    )
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return dict(json.loads(response.read()))
    except urllib.error.HTTPError as err:
        if err.code == 404 and "/api/v1/query" in url:
            return {"series": []}  # nothing received yet: the collector names what exists
        raise
