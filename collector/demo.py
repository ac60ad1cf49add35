"""`vigie-collector demo`: a collector on an embedded store with an agent reporting this
machine, and a few communes' history (collector.demo_fleet)."""

from __future__ import annotations

import dataclasses
import importlib.util
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path

from collector.config import ServerConfig, load_collector_config, parse_listen
from collector.demo_fleet import COMMUNES, seed
from collector.state import Repository
from collector.store.db import open_store
from collector.web.auth import hash_password


def run_demo(folder: Path, listen: str | None, interval: int) -> int:
    """Run until Ctrl-C; state stays in `folder` so a second run continues the first."""
    if importlib.util.find_spec("agent") is None or importlib.util.find_spec("psutil") is None:
        sys.stderr.write("vigie-collector demo needs the agent: pip install 'vigie[agent]'\n")
        return 3
    from collector.server import serve

    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / "collector.toml"
    if not config_path.exists():
        # A real config file, so that `user add`, [smtp] and rules can be tried on the demo.
        config_path.write_text(
            "# vigie-collector demo: edit (add [smtp], [alerts] recipients, rules) and run the\n"
            "# demo again; every vigie-collector command takes --config with this file.\n"
            f'[server]\nlisten = "{listen or "127.0.0.1:8080"}"\n'
            '[storage]\npath = "collector.db"\n'
        )
    config = load_collector_config(config_path)
    if listen:  # --listen given: it wins over the file
        host, port = parse_listen(listen)
        config = dataclasses.replace(config, server=ServerConfig(host, port))
    host, port = config.server.host, config.server.port
    conn = open_store(config.storage.path)
    repo = Repository(conn)
    token_file = folder / "agent.token"
    # A second run continues the first: keep the agent's token if it is still valid.
    if not (token_file.exists() and repo.identify(token_file.read_text().strip())):
        token = repo.create_token("demo", "this-machine", "workstation", int(time.time()))
        token_file.write_text(token + "\n")
        token_file.chmod(0o600)
    reader = repo.create_token("*", "*", "reader", int(time.time()))
    marker = folder / "demo-fleet.sent"
    pollers = {} if marker.exists() else {
        site: repo.create_token(site, "*", "poller", int(time.time())) for site in COMMUNES
    }  # fmt: skip
    # A technician account for the web UI, with a new password each run.
    password = secrets.token_urlsafe(9)
    if repo.user("demo") is None:
        repo.add_user("demo", hash_password(password), "technician", int(time.time()))
    else:
        repo.set_password("demo", hash_password(password))
    conn.close()
    agent_config = folder / "agent.toml"
    # The agent as users run it: its own process, its own config file (no import of it here).
    agent_config.write_text(
        f'[agent]\nsite = "demo"\nhost = "this-machine"\ninterval = {interval}\n'
        f'[collector]\nurl = "http://{host}:{port}"\ntoken_file = "{token_file}"\n'
        f'[spool]\npath = "{folder / "agent-spool.db"}"\n'
    )
    base = f"http://{host}:{port}"
    print(
        f"Vigie demo: collector on {base}, agent 'demo/this-machine' every {interval} s,\n"
        f"and a week of history for {', '.join(COMMUNES)}.\n"
        f"Web UI: {base}/ (user demo, password {password})\n"
        f"State in {folder}. Read token: {reader}\n"
        f"Config: {config_path} (e.g. vigie-collector user add NAME --role technician "
        f"--config {config_path})\n"
        f"Try: curl -H 'Authorization: Token {reader}' "
        f"'{base}/api/v1/query?measurement=cpu&field=usage_idle&site=demo'\n"
        "Ctrl-C stops.",
        flush=True,
    )
    agent = subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "run", "--config", str(agent_config)]
    )
    try:  # from here on, the agent stops with the demo, whatever stops it
        if pollers:  # a week of three communes' history, sent once the collector answers
            threading.Thread(target=seed, args=(base, pollers, marker), daemon=True).start()
        serve(config, log_level="warning")
    finally:
        agent.terminate()
        try:
            agent.wait(timeout=10)
        except subprocess.TimeoutExpired:
            agent.kill()
    print("Vigie demo stopped.")
    return 0
