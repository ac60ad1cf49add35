"""vigie-agent: run, collect, inventory, poll, enroll (argument parsing only)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType, ModuleType
from typing import TYPE_CHECKING, Any

from agent import __version__
from agent.config import DEFAULT_CONFIG, AgentConfig, load_agent_config
from protocol.tomlconfig import ConfigError

if TYPE_CHECKING:
    from agent.service import AgentService

EXIT_CONFIG = 2
EXIT_MISSING_DEPENDENCY = 3
_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _psutil() -> ModuleType:
    try:
        import psutil
    except ImportError:
        sys.stderr.write(
            "vigie-agent: psutil is not installed; install the agent extra: "
            "pip install 'vigie[agent]'\n"
        )
        raise SystemExit(EXIT_MISSING_DEPENDENCY) from None
    return psutil


def _config(path: Path | None, required: bool) -> AgentConfig:
    if path is None and not required and not DEFAULT_CONFIG.exists():
        return AgentConfig()
    return load_agent_config(path or DEFAULT_CONFIG)


def _agent_service(config: AgentConfig) -> AgentService | None:
    from agent.service import AgentService, inventory_in_child

    try:
        return AgentService(config, _psutil(), inventory=inventory_in_child(config))
    except (OSError, ValueError) as err:
        # Logged, not printed: under the Service Control Manager the log file is all there is.
        logging.getLogger("agent").error("cannot start: %s", err)
        return None


def _run(args: argparse.Namespace) -> int:
    service = _agent_service(_config(args.config, required=True))
    if service is None:
        return 1
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("agent").info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    service.run(stop)
    return 0


def _service(args: argparse.Namespace) -> int:
    from agent import winservice

    try:
        if args.action == "status":
            print(winservice.status())
        elif args.action == "uninstall":
            print(winservice.uninstall())
        elif args.action == "install":
            config = _config(args.config, required=True)  # a broken file fails here, not at boot
            assert config.source is not None
            print(winservice.install(service_command(config.source)))
        else:
            _serve(_config(args.config, required=True))
    except winservice.ServiceError as err:
        sys.stderr.write(f"vigie-agent: service {args.action}: {err.strerror or err}\n")
        return 1
    return 0


def service_command(config: Path) -> str:
    """The command line the Service Control Manager runs (paths quoted: Program Files)."""
    return f'"{sys.executable}" -m agent.cli service run --config "{config.resolve()}"'


def _serve(config: AgentConfig) -> None:
    """Under the SCM: log to a rotating file beside the config, run until told to stop."""
    from logging.handlers import RotatingFileHandler

    from agent import winservice

    assert config.source is not None
    logs = config.source.parent / "logs"
    logs.mkdir(exist_ok=True)
    handler = RotatingFileHandler(
        logs / "vigie-agent.log", maxBytes=1 << 20, backupCount=5, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter(_LOG_FORMAT))
    logging.getLogger().addHandler(handler)

    def main(stop: threading.Event) -> None:
        service = _agent_service(config)
        if service is None:
            raise RuntimeError("the agent could not start (see the line above)")
        service.run(stop)

    winservice.serve(main)


def _collect(args: argparse.Namespace) -> int:
    from agent.collectors.smart import SmartCollector
    from agent.service import collect_all, workstation_collectors
    from protocol.lineproto import format_points, stamp

    config = _config(args.config, required=False)
    now = int(time.time())
    points = collect_all((*workstation_collectors(_psutil()), SmartCollector(config.smartctl)), now)
    for line in format_points(stamp(points, config.site, config.host)):
        print(line)
    return 0


def _print_utf8(text: str) -> None:
    """UTF-8 whatever the console's code page: Windows writes a redirected stdout in its ANSI
    code page (cp1252), which loses every character outside it and fails on some."""
    sys.stdout.flush()
    sys.stdout.buffer.write(text.encode() + b"\n")
    sys.stdout.buffer.flush()


def _inventory(args: argparse.Namespace) -> int:
    import json

    from agent.service import as_inventory, current_inventory

    config = _config(args.config, required=False)
    if args.output is None:
        document = current_inventory(config, _psutil(), int(time.time()))
        _print_utf8(json.dumps(document, ensure_ascii=False, indent=2))
        return 0
    # For the agent service: the document in a file, the reason of a failure beside it.
    try:
        document = current_inventory(config, _psutil(), int(time.time()))
    except Exception as err:  # reported to the service, which logs it and carries on
        args.output.with_suffix(".err").write_text(f"{type(err).__name__}: {err}", "utf-8")
        raise
    found = as_inventory(document)
    args.output.with_suffix(".fingerprint").write_text(found.fingerprint, "ascii")
    partial = args.output.with_suffix(".part")
    partial.write_bytes(found.body)
    partial.replace(args.output)  # last: the service reads the fingerprint once this exists
    return 0


def _poll(args: argparse.Namespace) -> int:
    import asyncio
    import json

    config = _config(args.config, required=True)
    devices = [d for d in config.devices if args.device in (None, d.name)]
    if not devices:
        known = ", ".join(d.name for d in config.devices) or "none configured"
        sys.stderr.write(f"vigie-agent: no device {args.device!r} (devices: {known})\n")
        return EXIT_CONFIG
    try:
        from agent.poller.poll import Poller
        from agent.poller.site import device_lines
    except ImportError as err:
        sys.stderr.write(
            f"vigie-agent: {err.name} is not installed; install the poller extra: "
            "pip install 'vigie[poller]'\n"
        )
        return EXIT_MISSING_DEPENDENCY

    async def poll() -> int:
        poller = Poller(reader=config.host)
        if args.inventory:
            documents = [await poller.inventory(d) for d in devices]
            print(json.dumps([d for d in documents if d], ensure_ascii=False, indent=2))
            return 0 if all(documents) else 1
        results = await poller.poll_all(devices, int(time.time()))
        for name, points in results.items():
            for line in device_lines(points, config.site, name):
                print(line)
        failed = [
            p
            for ps in results.values()
            for p in ps
            if p.measurement == "device_poll" and not p.fields["ok"]
        ]
        return 1 if failed else 0

    return asyncio.run(poll())


def _enroll(args: argparse.Namespace) -> int:
    from agent.sender import enroll

    config = _config(args.config, required=True)
    link = config.collector
    if not link.url or link.token_file is None:
        sys.stderr.write("vigie-agent: enroll needs collector.url and collector.token_file\n")
        return EXIT_CONFIG
    try:
        identity = enroll(link, args.code, config.host, link.token_file)
    except (ValueError, OSError) as err:
        sys.stderr.write(f"vigie-agent: enrollment failed: {err}\n")
        return 1
    print(
        f"enrolled as {identity['site']}/{identity['host']} ({identity['role']}); "
        f"token in {link.token_file}"
    )
    return 0


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, told the terminal width: left to find it, it imports shutil, which
    imports bz2 and lzma (0.4 MiB kept by the running agent for nothing)."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=_columns() - 2)


def _columns() -> int:
    """The terminal's width as shutil finds it: $COLUMNS, the terminal, else 80."""
    with contextlib.suppress(KeyError, ValueError):
        return int(os.environ["COLUMNS"])
    try:
        return os.get_terminal_size().columns
    except (OSError, ValueError):  # no terminal (a pipe), no console at all (a service)
        return 80


class _Parser(argparse.ArgumentParser):
    """A parser with that formatter; subcommands' parsers are made of this class too."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(formatter_class=_HelpFormatter, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = _Parser(prog="vigie-agent", description="Vigie workstation agent")
    parser.add_argument("--version", action="version", version=f"vigie-agent {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the agent service")
    run.add_argument("--config", type=Path, required=True, help="agent.toml")
    run.set_defaults(handler=_run)
    collect = commands.add_parser("collect", help="collect this host once, line protocol on stdout")
    collect.add_argument("--once", action="store_true", required=True, help="one cycle, then exit")
    collect.add_argument("--config", type=Path, help="agent.toml (default: built-in settings)")
    collect.set_defaults(handler=_collect)
    inventory = commands.add_parser("inventory", help="this host's inventory, GLPI JSON on stdout")
    inventory.add_argument("--config", type=Path, help="agent.toml (default: built-in settings)")
    inventory.add_argument("--output", type=Path, help="write the document to this file")
    inventory.set_defaults(handler=_inventory)
    enroll = commands.add_parser("enroll", help="trade a one-time code for this agent's token")
    enroll.add_argument(
        "--config",
        type=Path,
        required=True,
        help="agent.toml (the token is written beside it, readable by the service account only)",
    )
    enroll.add_argument("--code", required=True, help="the code `vigie-collector enroll create` "
                        "printed")  # fmt: skip
    enroll.set_defaults(handler=_enroll)
    poll = commands.add_parser(
        "poll", help="poll the configured devices once, line protocol on stdout"
    )
    poll.add_argument("--config", type=Path, required=True, help="agent.toml with [[devices]]")
    poll.add_argument("--device", help="only this device (its name in the config)")
    poll.add_argument("--inventory", action="store_true", help="print GLPI inventories instead")
    poll.set_defaults(handler=_poll)
    service = commands.add_parser("service", help="the Windows service (Service Control Manager)")
    service.add_argument(
        "action",
        choices=("install", "uninstall", "status", "run"),
        help="install (or update) and configure restart on failure, uninstall (stops it "
        "first), status, or run (what the Service Control Manager starts)",
    )
    service.add_argument("--config", type=Path, help="agent.toml (install and run)")
    service.set_defaults(handler=_service)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the vigie-agent command."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format=_LOG_FORMAT,
        stream=sys.stderr,
    )
    try:
        return int(args.handler(args))
    except BrokenPipeError:  # `vigie-agent inventory | head`
        return 0
    except ConfigError as err:
        sys.stderr.write(f"vigie-agent: config error: {err}\n")
        return EXIT_CONFIG


if __name__ == "__main__":
    sys.exit(main())
