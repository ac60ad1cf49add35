"""The SSH poller against OpenSSH sshd on loopback, and reachability probes."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest

from agent.poller import reach
from agent.poller.credentials import SshCredentials
from agent.poller.ssh import SshError, linux_points, openwrt_points, run_command
from tests.poller_support import by, num, poll, ssh_device, status
from tests.services import TEST_DATA, SshServer, free_port

pytestmark = pytest.mark.services  # every test here starts real processes


def test_linux_poll_over_ssh(sshd: SshServer) -> None:
    points = poll(ssh_device(sshd, "nas-ssh"))["nas-ssh"]
    assert status(points).fields["ok"] is True, status(points).fields
    (mem,) = by(points, "mem")
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    assert mem.fields["total"] == int(meminfo["MemTotal"].split()[0]) * 1024
    (system,) = by(points, "system")
    assert num(system, "uptime") > 0 and num(system, "load1") >= 0
    assert by(points, "disk"), "df -kP gave no real filesystem"
    assert all(num(p, "total") > 0 for p in by(points, "disk"))


def test_wrong_host_key_is_refused_and_flagged(sshd: SshServer, tmp_path: Path) -> None:
    other = tmp_path / "other"
    import subprocess

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    wrong = " ".join(Path(f"{other}.pub").read_text().split()[:2])
    points = poll(ssh_device(sshd, "spoofed", host_key=wrong))["spoofed"]
    fields = status(points).fields
    assert fields["ok"] is False and fields["host_key_mismatch"] is True
    assert "host key mismatch" in str(fields["error"])
    assert not by(points, "mem")  # nothing was run on a host that is not the pinned one


def pinned(sshd: SshServer, command_timeout: float) -> SshCredentials:
    """Key login to the test sshd with its host key pinned."""
    return SshCredentials.from_config(
        {
            "user": sshd.user,
            "key_file": str(sshd.client_key),
            "host_key": sshd.host_key_line,
            "port": sshd.port,
            "command_timeout": command_timeout,
        },
        sshd.client_key.parent,
    )


@pytest.mark.parametrize(
    ("command", "deadline", "error", "within"),
    [
        ("sleep 60", 2.0, "did not finish within 2 s", 6),  # a hung command
        ("yes vigie-endless-output", 20.0, "exceeds 4 MiB", 15),  # endless output
    ],
)
def test_a_misbehaving_command_is_cut(
    sshd: SshServer, command: str, deadline: float, error: str, within: float
) -> None:
    creds = pinned(sshd, command_timeout=deadline)
    started = time.monotonic()
    with pytest.raises(SshError, match=error):
        run_command(sshd.host, creds, command)
    assert time.monotonic() - started < within


def test_refused_and_silent_ports_do_not_block_others(sshd: SshServer) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts the TCP connection, never sends an SSH banner
    refused_port = free_port()
    try:
        devices = [
            ssh_device(sshd, "refused", port=refused_port, timeout=2.0),
            ssh_device(sshd, "silent", port=silent.getsockname()[1], timeout=2.0),
            ssh_device(sshd, "healthy"),
        ]
        started = time.monotonic()
        results = poll(*devices)
        elapsed = time.monotonic() - started
    finally:
        silent.close()
    assert status(results["healthy"]).fields["ok"] is True
    assert "cannot connect" in str(status(results["refused"]).fields["error"])
    assert status(results["silent"]).fields["ok"] is False
    assert elapsed < 10, elapsed


def test_openwrt_recorded_output() -> None:
    output = (TEST_DATA / "ssh" / "openwrt-23.05.txt").read_text()
    points = openwrt_points(output, 1_800_000_000)
    (system,) = by(points, "system")
    assert system.fields["uptime"] == 1209847
    assert system.fields["load1"] == pytest.approx(6016 / 65536)
    (mem,) = by(points, "mem")
    assert mem.fields["total"] == 129310720 and mem.fields["available"] == 78114816
    wan = by(points, "interface", ifname="wan")[0].fields
    assert wan["up"] is False and wan["oper_status"] == 2
    net = by(points, "net", interface="wan")[0].fields
    assert (net["bytes_recv"], net["err_in"], net["drop_out"]) == (8765432100, 3, 2)
    assert not by(points, "net", interface="lo")
    assert {p.tags["path"] for p in by(points, "disk")} == {"/", "/tmp"}


def test_linux_sections_each_fail_alone() -> None:
    output = (
        "@@vigie@@loadavg\ngarbage\n@@vigie@@meminfo\nMemTotal: 1000 kB\nMemAvailable: 250 kB\n"
    )
    points = linux_points(output, 0)
    (mem,) = by(points, "mem")
    assert mem.fields["used_percent"] == 75.0
    assert not by(points, "system")


def test_tcp_reachability_up_refused_and_silent() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        accepted = asyncio.run(reach.tcp_probe("127.0.0.1", (port,), timeout=1))
        refused = asyncio.run(reach.tcp_probe("127.0.0.1", (free_port(),), timeout=1))
    finally:
        listener.close()
    assert accepted.received == 1 and accepted.rtts_ms[0] < 1000
    assert refused.received == 1  # a refusal is an answer: the host is up
    point = accepted.point(0)
    assert point.fields["up"] is True and point.fields["percent_packet_loss"] == 0.0
    nowhere = asyncio.run(reach.tcp_probe("no-such-host.invalid", (80,), timeout=1))
    assert nowhere.result_code == reach.RESULT_NO_HOST and nowhere.point(0).fields["up"] is False


def test_icmp_reachability_of_loopback() -> None:
    try:
        outcome = asyncio.run(reach.icmp_probe("127.0.0.1", count=2))
    except PermissionError:
        pytest.skip("neither ping sockets nor raw sockets are allowed here (not root)")
    assert outcome.received == 2
    assert num(outcome.point(0), "average_response_ms") < 100
