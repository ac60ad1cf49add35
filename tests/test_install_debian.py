"""install.sh on a bare Debian: a bookworm tree made by debootstrap (python3-venv and CA
certificates, nothing of this machine's Python), entered with chroot. The collector and the agent
are installed as a technician would (no --root), the agent enrolls over TLS with a test CA, both
run from the ExecStart lines of their units, data flows; upgrade keeps config and data;
uninstall removes the units. Slow (a Debian tree, two virtualenvs): about five minutes."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import free_port, make_ca, process, unavailable, wait_for
from tests.test_install import PASSWORD, _https_json, _https_ok, sh

pytestmark = pytest.mark.services  # every test here starts real processes

ROOT = Path(__file__).parent.parent
MIRROR = "http://deb.debian.org/debian"
# Nothing of this machine's environment (its pip index settings, its PATH) leaks into the tree.
CLEAN_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8"}


@pytest.fixture(scope="module")
def debian(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if os.geteuid() != 0:
        unavailable("chroot and debootstrap need root")
    if shutil.which("debootstrap") is None:
        unavailable("debootstrap is not installed (apt-get install debootstrap)")
    root = tmp_path_factory.mktemp("debian") / "root"
    done = subprocess.run(
        ["debootstrap", "--variant=minbase", "--include=python3-venv,ca-certificates",
         "bookworm", str(root), MIRROR],
        capture_output=True, text=True, timeout=1500,
    )  # fmt: skip
    if done.returncode != 0:
        unavailable(f"debootstrap failed: {done.stderr[-1500:] or done.stdout[-1500:]}")
    # This checkout, as a technician unpacks it on the machine.
    tracked = sh("git", "-C", str(ROOT), "ls-files", "-z").stdout.split("\0")
    for name in filter(None, tracked):
        target = root / "src" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, target)
    shutil.copy("/etc/resolv.conf", root / "etc/resolv.conf")
    # The CAs this machine adds to Debian's (a TLS-inspecting proxy's, here): a site behind one
    # installs them the same way, or pip cannot reach the package index.
    local = Path("/usr/local/share/ca-certificates")
    for cert in local.glob("*.crt") if local.is_dir() else ():
        shutil.copy(cert, root / "usr/local/share/ca-certificates" / cert.name)
    sh("chroot", str(root), "update-ca-certificates", env=CLEAN_ENV)
    mounted: list[Path] = []
    try:
        for args, point in (
            (["-t", "proc", "proc"], root / "proc"),
            (["--bind", "/dev"], root / "dev"),
        ):
            sh("mount", *args, str(point))
            mounted.append(point)
        yield root
    finally:
        for point in reversed(mounted):
            subprocess.run(["umount", "-l", str(point)], check=False)


def chroot(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return sh("chroot", str(root), *args, check=check, env=CLEAN_ENV)


def exec_start(unit: Path) -> list[str]:
    """The unit's command line, as systemd would run it."""
    for line in unit.read_text().splitlines():
        if line.startswith("ExecStart="):
            return shlex.split(line.removeprefix("ExecStart="))
    raise AssertionError(f"no ExecStart in {unit}")


@contextlib.contextmanager
def unit_process(root: Path, name: str) -> Iterator[subprocess.Popen[str]]:
    """Run a unit's ExecStart inside the tree (no systemd in a chroot)."""
    command = exec_start(root / f"etc/systemd/system/{name}.service")
    with process(["chroot", str(root), *command], env=CLEAN_ENV) as proc:
        yield proc


def samples(root: Path) -> int:
    """Samples from the agent (the collector files its own health too, on site _vigie)."""
    db = sqlite3.connect(f"file:{root}/var/lib/vigie/collector.db?mode=ro", uri=True)
    try:
        return int(
            db.execute(
                "SELECT count(*) FROM sample JOIN series ON series.id = sample.series_id "
                "WHERE series.site = 'Privas'"
            ).fetchone()[0]
        )
    finally:
        db.close()


def test_install_on_bare_debian_enroll_run_upgrade_uninstall(debian: Path) -> None:
    root = debian
    ca, _, _ = make_ca(root / "pki", "Vigie")
    (root / "pki/password").write_text(PASSWORD + "\n")
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    out = chroot(
        root, "/src/install.sh", "collector", "--listen", f"127.0.0.1:{port}",
        "--tls-cert", "/pki/cert.pem", "--tls-key", "/pki/key.pem",
        "--admin", "marie", "--admin-password-file", "/pki/password",
    ).stdout  # fmt: skip
    assert "systemd not in use here" in out and "done: collector installed" in out
    assert (root / "var/lib/vigie").stat().st_mode & 0o777 == 0o700
    cli = ("/opt/vigie/venv/bin/vigie-collector",)
    config = ("--config", "/etc/vigie/collector.toml")
    assert chroot(root, *cli, "user", "list", *config).stdout.strip() == "marie\ttechnician"
    with unit_process(root, "vigie-collector") as collector:
        wait_for(lambda: _https_ok(f"{url}/healthz", ca), 90, "collector", collector, own=True)
        code = chroot(root, *cli, "enroll", "create", "--site", "Privas", *config).stdout.strip()
        out = chroot(
            root, "/src/install.sh", "agent", "--collector", url, "--enroll", code,
            "--site", "Privas", "--host", "mairie-pc", "--ca-file", "/pki/ca.pem",
        ).stdout  # fmt: skip
        assert "done: agent installed" in out
        assert (root / "etc/vigie/agent.token").stat().st_mode & 0o777 == 0o600
        agent_toml = root / "etc/vigie/agent.toml"
        agent_toml.write_text(
            agent_toml.read_text().replace("[agent]\n", "[agent]\ninterval = 1\n")
        )
        reader = chroot(root, *cli, "token", "create", "--role", "reader", *config).stdout.strip()
        with unit_process(root, "vigie-agent") as agent:
            query = f"{url}/api/v1/query?measurement=cpu&field=usage_idle&host=mairie-pc"
            wait_for(
                lambda: bool(_https_json(query, ca, reader)["series"]),
                90, "data from the agent", agent, own=True,
            )  # fmt: skip
    before = samples(root)
    assert before > 0
    configs = {p: p.read_text() for p in (root / "etc/vigie").glob("*.toml")}

    out = chroot(root, "/src/install.sh", "upgrade").stdout
    assert "done: upgraded" in out
    assert {p: p.read_text() for p in configs} == configs
    assert samples(root) == before
    assert (root / "var/lib/vigie/agent-spool.db").exists()
    with unit_process(root, "vigie-collector") as collector:  # the upgraded program starts
        wait_for(
            lambda: _https_ok(f"{url}/healthz", ca), 90, "upgraded collector", collector, own=True
        )

    chroot(root, "/src/install.sh", "uninstall")
    assert not list((root / "etc/systemd/system").glob("vigie-*.service"))
    assert not (root / "opt/vigie").exists() and samples(root) == before
    chroot(root, "/src/install.sh", "uninstall", "--purge")
    assert not (root / "var/lib/vigie").exists() and not (root / "etc/vigie").exists()
