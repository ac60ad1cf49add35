"""The Windows package's installer (setup.cmd runs it with the package's own Python): copies
the runtime to Program Files, writes the config under ProgramData, enrolls, locks the token
to SYSTEM and Administrators, registers and starts the service. Silent and idempotent: a
second run keeps the config and the token and only updates the program; `--uninstall` removes
the service and the program, `--purge` also the data (the spool may hold unsent points).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import socket
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent import winacl, winservice
from agent.config import CollectorLink, load_agent_config
from agent.sender import enroll, tls_context
from protocol.tomlconfig import ConfigError

EXIT_FAILED, EXIT_USAGE = 1, 2


@dataclass(frozen=True, slots=True)
class Layout:
    """Where the agent lives on a Windows machine."""

    program: Path  # the runtime: program\\python\\python.exe
    data: Path  # agent.toml, agent.token, spool.db, logs\\

    @property
    def python(self) -> Path:
        """The installed interpreter the service runs."""
        return self.program / "python" / "python.exe"

    @property
    def config(self) -> Path:
        """The agent's config file."""
        return self.data / "agent.toml"


def default_layout() -> Layout:
    """C:\\Program Files\\Vigie and C:\\ProgramData\\Vigie (from the environment)."""
    program = Path(os.environ.get("PROGRAMFILES", r"C:\Program Files")) / "Vigie"
    data = Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData")) / "Vigie"
    return Layout(program, data)


class SetupError(Exception):
    """A step failed; the message says which and what to do."""


def is_admin() -> bool:
    """Whether this process runs elevated (an administrator prompt, or SYSTEM)."""
    win: Any = ctypes
    return bool(win.windll.shell32.IsUserAnAdmin())


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def config_text(url: str, site: str, host: str, ca_file: Path | None) -> str:
    """The agent.toml that setup writes (relative paths are relative to its folder)."""
    lines = [
        "# Written by Vigie's setup.cmd; edit and restart the VigieAgent service.",
        "[agent]",
        f"site = {_toml_string(site)}",
        f"host = {_toml_string(host)}",
        "",
        "[collector]",
        f"url = {_toml_string(url)}",
        'token_file = "agent.token"',
    ]
    if ca_file is not None:
        lines.append(f"ca_file = {_toml_string(str(ca_file))}")
    lines += ["", "[spool]", 'path = "spool.db"', ""]
    return "\n".join(lines)


def _copy_runtime(source: Path, layout: Layout, say: Callable[[str], None]) -> None:
    if source.resolve() == (layout.program / "python").resolve():
        return
    if winservice.status() in ("running", "start pending"):
        say(winservice.stop())  # an upgrade: the service holds the files it runs
    shutil.copytree(source, layout.program / "python", dirs_exist_ok=True)
    say(f"program copied to {layout.program}")


def _enroll(args: argparse.Namespace, layout: Layout, say: Callable[[str], None]) -> None:
    token = layout.data / "agent.token"
    if token.exists() and layout.config.exists():
        winacl.restrict_to_admins(token)
        say(f"already enrolled: {token} kept (remove it to enroll again)")
        return
    if not args.enroll:
        raise SetupError("--enroll CODE is required for the first installation")
    ca_file = _ca_copy(args.ca_file, layout)
    link = CollectorLink(url=args.collector.rstrip("/"), token_file=token, ca_file=ca_file)
    try:
        tls_context(link)  # plain HTTP to another machine is refused before any code is sent
        identity = enroll(link, args.enroll, args.host, token)
    except ssl.SSLCertVerificationError as err:
        raise SetupError(
            f"the certificate of {args.collector} is not trusted ({err.verify_message}): "
            "pass --ca-file with the syndicate's CA"
        ) from None
    except (OSError, ValueError) as err:
        raise SetupError(f"enrollment with {args.collector} failed: {err}") from None
    if args.site and identity["site"] != args.site:
        token.unlink()
        raise SetupError(
            f"the code is for site {identity['site']!r}, not {args.site!r}: use that site's code"
        )
    layout.config.write_text(
        config_text(link.url, identity["site"], identity["host"], ca_file), "utf-8"
    )
    say(f"enrolled as {identity['site']}/{identity['host']}; config in {layout.config}")


def _ca_copy(ca_file: Path | None, layout: Layout) -> Path | None:
    if ca_file is None:
        return None
    target = layout.data / "collector-ca.pem"
    shutil.copyfile(ca_file, target)
    return target


def install(args: argparse.Namespace, layout: Layout, say: Callable[[str], None]) -> None:
    """Every step of an installation, each checked."""
    _copy_runtime(Path(sys.executable).parent, layout, say)
    winacl.private_folder(layout.data)
    _enroll(args, layout, say)
    try:
        load_agent_config(layout.config)
    except ConfigError as err:
        raise SetupError(f"the config is not usable: {err}") from None
    command = f'"{layout.python}" -m agent.cli service run --config "{layout.config}"'
    say(winservice.install(command))
    say(winservice.start())


def uninstall(purge: bool, layout: Layout, say: Callable[[str], None]) -> None:
    """Remove the service and the program; the data too with `purge`."""
    say(winservice.uninstall())
    if layout.program.exists():
        shutil.rmtree(layout.program)
        say(f"removed {layout.program}")
    if purge and layout.data.exists():
        shutil.rmtree(layout.data)
        say(f"removed {layout.data} (config, token, spool, logs)")
    elif layout.data.exists():
        say(f"kept {layout.data} (config, token, unsent data): --purge removes it")


def build_parser() -> argparse.ArgumentParser:
    """setup.cmd's options."""
    parser = argparse.ArgumentParser(
        prog="setup.cmd",
        description="Install, enroll and start the Vigie agent service (administrator prompt).",
    )
    parser.add_argument("--collector", help="the collector's URL, https://vigie.example.org")
    parser.add_argument("--enroll", metavar="CODE", help="an enrollment code for this site")
    parser.add_argument("--site", help="check that the code is for this site")
    parser.add_argument("--host", default=socket.gethostname(), help="default: the PC's name")
    parser.add_argument("--ca-file", type=Path, help="CA of the collector's certificate")
    parser.add_argument("--uninstall", action="store_true", help="remove service and program")
    parser.add_argument("--purge", action="store_true", help="with --uninstall: data too")
    return parser


def main(argv: list[str] | None = None, layout: Layout | None = None) -> int:
    """setup.cmd: exit 0 when every step succeeded, 1 naming the failed step, 2 for usage."""
    args = build_parser().parse_args(argv)
    layout = layout or default_layout()

    def say(line: str) -> None:
        print(f"vigie setup: {line}", flush=True)

    if not is_admin():
        sys.stderr.write("vigie setup: run setup.cmd from an administrator prompt\n")
        return EXIT_FAILED
    try:
        if args.uninstall:
            uninstall(args.purge, layout, say)
        elif not args.collector:
            sys.stderr.write("vigie setup: --collector URL is required (see --help)\n")
            return EXIT_USAGE
        else:
            install(args, layout, say)
    except (SetupError, OSError) as err:
        sys.stderr.write(f"vigie setup: {err}\n")
        return EXIT_FAILED
    say("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
