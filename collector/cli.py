"""vigie-collector: run, demo, token, user, rules (argument parsing only)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from collector import LOG_FORMAT, __version__
from collector.config import CollectorConfig, load_collector_config
from collector.rules.load import RuleError
from collector.state import ROLES, Repository
from collector.state.postgres import StateError
from collector.state.source import state_repository
from collector.store.db import StoreError
from protocol.tomlconfig import ConfigError

EXIT_CONFIG = 2
DEFAULT_CONFIG = Path("/etc/vigie/collector.toml")


def _load(args: argparse.Namespace) -> CollectorConfig:
    return load_collector_config(args.config)


def _run(args: argparse.Namespace) -> int:
    from collector.server import serve

    serve(_load(args))
    return 0


def _token(args: argparse.Namespace) -> int:
    config = _load(args)
    with state_repository(config.state, config.storage.path) as repo:
        return _token_action(args, repo)


def _token_action(args: argparse.Namespace, repo: Repository) -> int:
    if args.action == "create":
        if args.role in ("workstation", "poller") and not (args.site and args.host):
            sys.stderr.write("vigie-collector: token create needs --site and --host\n")
            return EXIT_CONFIG
        if args.role == "poller" and args.site and not args.host:
            args.host = "poller"
        print(repo.create_token(args.site or "*", args.host or "*", args.role, int(time.time())))
    elif args.action == "list":
        for t in repo.list_tokens():
            state = "revoked" if t.revoked else "active"
            print(f"{t.token_id}\t{t.role}\t{t.site}\t{t.host}\t{state}")
    elif args.action == "revoke":
        if not repo.revoke_token(args.id, int(time.time())):
            sys.stderr.write(f"vigie-collector: no active token with id {args.id}\n")
            return 1
        print(f"token {args.id} revoked")
    return 0


def _password(prompt: str) -> str:
    """From stdin when it is not a terminal (scripts), else asked twice."""
    import getpass

    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass(prompt)
    if getpass.getpass("again: ") != first:
        raise SystemExit("vigie-collector: the two passwords differ")
    return first


def _user(args: argparse.Namespace) -> int:
    import time

    from collector.web.auth import check_password_strength, hash_password

    config = _load(args)
    with state_repository(config.state, config.storage.path) as repo:
        if args.action in ("add", "passwd"):
            password = _password(f"password for {args.name}: ")
            problem = check_password_strength(password)
            if problem:
                sys.stderr.write(f"vigie-collector: {problem}\n")
                return EXIT_CONFIG
            if args.action == "add":
                try:
                    repo.add_user(args.name, hash_password(password), args.role, int(time.time()))
                except ValueError as err:
                    sys.stderr.write(f"vigie-collector: {err}\n")
                    return 1
                print(f"user {args.name} added ({args.role})")
            elif not repo.set_password(args.name, hash_password(password)):
                sys.stderr.write(f"vigie-collector: no user {args.name!r}\n")
                return 1
            else:
                print(f"password of {args.name} changed; its sessions are closed")
        elif args.action == "remove":
            if not repo.remove_user(args.name):
                sys.stderr.write(f"vigie-collector: no user {args.name!r}\n")
                return 1
            print(f"user {args.name} removed")
        else:
            for user in repo.users():
                print(f"{user.name}\t{user.role}")
    return 0


def _rules(args: argparse.Namespace) -> int:
    from collector.rules.load import load_rules

    if args.action == "check":
        ruleset = load_rules(args.files)
        print(
            f"ok: {len(ruleset.rules)} rules (defaults included), "
            f"{len(ruleset.overrides)} overrides"
        )
    else:
        config = _load(args)
        for rule in load_rules(config.alerts.rules).rules:
            print(f"{rule.name}\t{rule.kind}\t{rule.severity}\t{rule.measurement}")
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 100_000:
        raise argparse.ArgumentTypeError(f"must be from 1 to 100000, got {value}")
    return value


def _enroll(args: argparse.Namespace) -> int:
    import time

    from collector.rules.model import parse_duration

    config = _load(args)
    with state_repository(config.state, config.storage.path) as repo:
        if args.action == "create":
            try:
                lifetime = parse_duration(args.expires)
            except ValueError as err:
                sys.stderr.write(f"vigie-collector: --expires: {err}\n")
                return EXIT_CONFIG
            now = int(time.time())
            print(repo.create_enrollment(args.site, args.role, now + lifetime, now, args.uses))
        else:
            for code in repo.enrollments():
                state = "open" if not code.used else f"last used by {code.last_host}"
                expires = time.strftime("%Y-%m-%d %H:%M", time.localtime(code.expires))
                print(
                    f"{code.id}\t{code.site}\t{code.role}\t{code.used}/{code.uses} uses\t"
                    f"expires {expires}\t{state}"
                )
    return 0


def _demo(args: argparse.Namespace) -> int:
    from collector.demo import run_demo

    return run_demo(args.dir, args.listen, args.interval)


def _with_config(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
    sub.add_argument(
        "--config", type=Path, default=DEFAULT_CONFIG,
        help=f"the collector's configuration (default {DEFAULT_CONFIG})",
    )  # fmt: skip
    return sub


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(prog="vigie-collector", description="Vigie collector")
    parser.add_argument("--version", action="version", version=f"vigie-collector {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = _with_config(commands.add_parser("run", help="run the collector service"))
    run.set_defaults(handler=_run)
    for add in (_add_demo, _add_token, _add_enroll, _add_user, _add_rules):
        add(commands)
    return parser


def _add_demo(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`demo`: a collector and an agent with a few communes' history."""
    demo = commands.add_parser(
        "demo",
        help="collector + local agent on an embedded store, with a few communes' history",
        description="Runs a collector and this machine's agent on an embedded store, fills "
        "a few communes with history (a disk filling, a toner running out, a UPS on "
        "battery, a silent PC), and prints the address and the login. The demo's "
        "environment has the agent without the site poller's extra: `pip install "
        "'vigie[poller]'` for `vigie-agent poll`.",
    )
    demo.add_argument(
        "--listen", help="HOST:PORT (default: the demo's config file, else 127.0.0.1:8080)"
    )
    demo.add_argument(
        "--dir", type=Path, default=Path("vigie-demo"), help="state folder (default vigie-demo)"
    )
    demo.add_argument(
        "--interval", type=int, default=5, help="seconds between the agent's cycles (default 5)"
    )
    demo.set_defaults(handler=_demo)


def _add_token(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`token create|list|revoke`."""
    token = commands.add_parser("token", help="agent and API tokens")
    actions = token.add_subparsers(dest="action", required=True)
    create = _with_config(actions.add_parser("create", help="print a new token"))
    create.add_argument("--site", help="the commune it may write or read (default: any)")
    create.add_argument("--host", help="the host it may write (default: any of the site)")
    create.add_argument(
        "--role", choices=ROLES, default="workstation",
        help="workstation (its own host), poller (its site's devices), reader or technician "
        "(the API) (default workstation)",
    )  # fmt: skip
    _with_config(actions.add_parser("list", help="list tokens (never the tokens themselves)"))
    revoke = _with_config(actions.add_parser("revoke", help="revoke a token by id"))
    revoke.add_argument("id", type=int, help="the token's id, as `token list` prints it")
    token.set_defaults(handler=_token)


def _add_enroll(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`enroll create|list`."""
    enroll = commands.add_parser("enroll", help="one-time enrollment codes for agents")
    enroll_actions = enroll.add_subparsers(dest="action", required=True)
    code = _with_config(enroll_actions.add_parser("create", help="print a new code"))
    code.add_argument("--site", required=True, help="the commune the agents will belong to")
    code.add_argument(
        "--role", choices=("workstation", "poller"), default="workstation",
        help="what the enrolled agents may write (default workstation)",
    )  # fmt: skip
    code.add_argument("--expires", default="7d", help="lifetime: 30m, 24h, 7d… (default 7d)")
    code.add_argument(
        "--uses",
        type=_positive,
        default=1,
        help="how many machines may enroll with it, for a mass roll-out (default 1)",
    )
    _with_config(enroll_actions.add_parser("list", help="codes and who used them"))
    enroll.set_defaults(handler=_enroll)


def _add_user(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`user add|passwd|remove|list`."""
    user = commands.add_parser("user", help="web UI accounts")
    user_actions = user.add_subparsers(dest="action", required=True)
    add = _with_config(user_actions.add_parser("add", help="add an account (password on stdin)"))
    add.add_argument("name", help="the login name")
    add.add_argument(
        "--role", choices=("reader", "technician"), required=True,
        help="reader (sees everything) or technician (also acknowledges and silences)",
    )  # fmt: skip
    passwd = _with_config(user_actions.add_parser("passwd", help="change a password"))
    passwd.add_argument("name", help="the login name (new password on stdin)")
    remove = _with_config(user_actions.add_parser("remove", help="delete an account"))
    remove.add_argument("name", help="the login name")
    _with_config(user_actions.add_parser("list", help="list accounts"))
    user.set_defaults(handler=_user)


def _add_rules(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`rules check|list`."""
    rules = commands.add_parser("rules", help="alert rules")
    rule_actions = rules.add_subparsers(dest="action", required=True)
    check = rule_actions.add_parser("check", help="validate rule files (with the defaults)")
    check.add_argument("files", type=Path, nargs="+", help="rule files (TOML)")
    _with_config(rule_actions.add_parser("list", help="the rules in force"))
    rules.set_defaults(handler=_rules)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the vigie-collector command."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    try:
        code = int(args.handler(args))
        sys.stdout.flush()  # here, where a closed pipe can be caught, not at exit
        return code
    except ConfigError as err:
        sys.stderr.write(f"vigie-collector: config error: {err}\n")
        return EXIT_CONFIG
    except (StoreError, StateError) as err:
        sys.stderr.write(f"vigie-collector: {err}\n")
        return 1
    except RuleError as err:
        found = f"{err.count} rule errors" if err.count > 1 else "rule error"
        sys.stderr.write(f"vigie-collector: {found}:\n{err}\n")
        return EXIT_CONFIG
    except BrokenPipeError:  # `rules list | head`, `token list | head`
        # Nothing more can be written; point stdout at /dev/null so that Python's own flush
        # at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
