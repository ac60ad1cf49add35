"""The technicians' web UI: login, sessions, CSRF, roles, pages with data, CSV; and a real
headless Chromium logging in and reading the pages, on a desktop and a phone screen."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from collector.web.auth import hash_password, verify_password
from tests.alert_support import Lab
from tests.services import VENV_BIN, Browser, MailSink, devtools, post, run_collector

PASSWORD = "correct horse battery"


def login(client: TestClient, name: str, password: str = PASSWORD) -> int:
    form = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf, form.text
    response = client.post(
        "/login",
        data={"csrf": csrf.group(1), "username": name, "password": password, "next": "/"},
        follow_redirects=False,
    )
    return int(response.status_code)


def csrf_of(client: TestClient, path: str = "/alerts") -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert found
    return found.group(1)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    with Lab(tmp_path, MailSink("127.0.0.1", 1), "web@example.org") as running:
        running.clock.now = time.time()
        repo = running.app.state.services.repository()
        repo.add_user("marie", hash_password(PASSWORD), "technician", 0)
        repo.add_user("paul", hash_password(PASSWORD), "reader", 0)
        now = int(running.clock.now)
        token = running.token("Annonay", "pc-mairie")
        tags = "site=Annonay,host=pc-mairie"
        lines = [f"vigie_agent,{tags} spool_batches=0i {now}"]
        for i in range(60):
            ts = now - 3600 + 60 * i
            lines.append(f"cpu,{tags},cpu=cpu-total usage_idle={60 + i % 5} {ts}")
            lines.append(f"disk,{tags},path=C: used_percent={70 + i * 0.02:.2f} {ts}")
        running.write(token, lines)
        ups = running.token("Privas", "onduleur", "poller")
        running.write(ups, [f"ups,site=Privas,host=onduleur battery_status=3i {now}"])
        running.step()
        yield running


def test_pages_need_a_login_and_bad_passwords_are_refused(lab: Lab) -> None:
    client = lab.client
    response = client.get("/sites/Annonay", follow_redirects=False)
    assert (
        response.status_code == 303 and response.headers["location"] == "/login?next=/sites/Annonay"
    )
    assert login(client, "marie", "wrong password!") == 401
    assert login(client, "nobody", PASSWORD) == 401
    # a login form posted without its CSRF cookie (another site's form) is refused
    forged = TestClient(lab.app, base_url="https://testserver").post(
        "/login", data={"csrf": "x", "username": "marie", "password": PASSWORD}
    )
    assert forged.status_code == 403
    assert login(client, "marie") == 303
    cookie = client.cookies.get("vigie_session")
    assert cookie
    header = [h for h in client.get("/login").headers.get_list("set-cookie")]
    assert all("HttpOnly" in h and "SameSite=strict" in h and "Secure" in h for h in header)
    page = client.get("/")
    assert page.status_code == 200 and "Annonay" in page.text and "Privas" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    # the session id is stored hashed, never as the cookie value
    stored = lab.app.state.services.repository()._conn.execute("SELECT id FROM session").fetchall()
    assert all(row[0] != cookie for row in stored)


def test_fleet_site_and_device_pages_show_the_data(lab: Lab) -> None:
    login(lab.client, "paul")
    fleet = lab.client.get("/?sort=status").text
    # Privas has a critical alert: first, in red
    assert fleet.index("Privas") < fleet.index("Annonay")
    assert 'class="badge critical"' in fleet
    assert "Privas" not in lab.client.get("/?q=anno").text
    site = lab.client.get("/sites/Privas").text
    assert "La batterie de l&#39;onduleur onduleur est faible ou épuisée" in site
    # D: fills at 1 %/h for 20 h: disk_full_7d holds, so the page draws its forecast; C: rose
    # only an hour (too little history for the rule), so none is drawn for it.
    token = lab.token("Annonay", "pc-mairie")
    now = int(lab.clock.now)
    lab.write(token, [f"disk,site=Annonay,host=pc-mairie,path=D: used_percent={70 + h}.0 "
                      f"{now - (20 - h) * 3600}" for h in range(21)])  # fmt: skip
    lab.app.state.services.writer.sync()
    device = lab.client.get("/sites/Annonay/hosts/pc-mairie?range=6h").text
    assert device.count("<svg") >= 2
    assert "Disque D: (prévision)" in device and "Disque C: (prévision)" not in device
    note = re.search(r"Prévision : [^<]*", device)
    assert note, "no forecast note"
    assert re.fullmatch(
        r"Prévision : Disque D: atteindra 100,0 % vers \d+ h \d\d, dans 10 heures\.", note[0]
    ), note[0]
    # hover values name the line, in French with units and decimal commas
    assert re.search(r"<title>\d+ déc\. \d\d:\d\d — Processeur : \d+,\d %</title>", device)
    # every chart of the page on one time axis
    assert len(set(re.findall(r'data-start="(\d+)" data-end="(\d+)"', device))) == 1


def test_unknown_places_are_404_and_device_values_are_escaped(lab: Lab) -> None:
    login(lab.client, "paul")
    assert lab.client.get("/sites/Nowhere").status_code == 404
    missing = lab.client.get("/sites/Annonay/hosts/ghost")
    assert missing.status_code == 404 and "Traceback" not in missing.text
    poller = lab.token("Annonay", "poller", "poller")
    evil = "<script>alert(1)</script>"
    lab.write(
        poller, [f"ping,site=Annonay,host={evil.replace(' ', '_')} up=true {int(lab.clock.now)}"]
    )
    lab.step()
    page = lab.client.get("/sites/Annonay").text
    assert (
        "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    )
    assert lab.client.get("/sites/Annonay/hosts/pc-mairie?range=10y").status_code == 200


def test_fleet_lists_the_machines_with_a_wrong_clock(
    lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    token = lab.token("Lens", "pc-secretariat")
    ahead = int(lab.clock.now) + 2 * 3600  # local time sent as UTC
    for _ in range(2):
        response = lab.client.post(
            "/write?precision=s",
            content=f"cpu,site=Lens,host=pc-secretariat usage_idle=50 {ahead}".encode(),
            headers={"Authorization": f"Token {token}"},
        )
        assert response.status_code == 400 and "no point stored" in response.text
    logged = [r for r in caplog.records if "pc-secretariat" in r.getMessage()]
    assert len(logged) == 1, logged  # once an hour, not once a request
    login(lab.client, "paul")
    fleet = lab.client.get("/").text
    assert "Horloges à vérifier (1)" in fleet
    row = fleet[fleet.index('id="skewed"') :]
    assert "pc-secretariat" in row and "datées dans le futur" in row and "<td>2</td>" in row


def test_reader_may_look_but_not_act(lab: Lab) -> None:
    login(lab.client, "paul")
    (alert,) = lab.alerts("firing")
    response = lab.client.post(f"/alerts/{alert['id']}/ack", data={"csrf": csrf_of(lab.client)})
    assert response.status_code == 403
    assert "Acquitter" not in lab.client.get("/alerts").text


def test_technician_acknowledges_and_silences_with_csrf(lab: Lab) -> None:
    login(lab.client, "marie")
    (alert,) = lab.alerts("firing")
    no_token = lab.client.post(f"/alerts/{alert['id']}/ack", data={"csrf": "forged"})
    assert no_token.status_code == 403
    csrf = csrf_of(lab.client)
    done = lab.client.post(
        f"/alerts/{alert['id']}/ack",
        data={"csrf": csrf, "comment": "batterie commandée"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    acked = lab.alerts("firing")[0]
    assert (acked["acked_by"], acked["ack_comment"]) == ("web:marie", "batterie commandée")
    page = lab.client.get("/alerts").text
    # people's names, not account ids; the comment beside it; and the way back
    assert "Acquittée par marie : « batterie commandée »" in page and "web:marie" not in page
    assert f'action="/alerts/{alert["id"]}/unack"' in page
    lab.client.post(f"/alerts/{alert['id']}/unack", data={"csrf": csrf})
    assert lab.alerts("firing")[0]["acked_by"] is None
    # the API acknowledges with a comment and takes it back too
    api = {"Authorization": f"Token {lab.token('', '', 'technician')}"}
    url = f"/api/v1/alerts/{alert['id']}/ack"
    assert lab.client.post(url, params={"comment": "vu"}, headers=api).status_code == 200
    page = lab.client.get("/alerts").text
    assert re.search(r"Acquittée par l&#39;API \(jeton n° \d+\) : « vu »", page), page
    assert lab.client.delete(url, headers=api).status_code == 200
    assert lab.client.delete(url, headers=api).status_code == 404
    data = {"csrf": csrf, "site": "Privas", "host": "", "rule": "", "duration": "3600"}
    assert lab.client.post("/silences", data=data, follow_redirects=False).status_code == 303
    page = lab.client.get("/alerts").text
    assert "(marie)" in page and "en silence" in page
    # maintenance windows are chosen from what Vigie knows
    assert '<datalist id="known-rules"><option value="' in page
    assert '<option value="pc-mairie">' in page
    window = {
        "csrf": csrf,
        "host": "pc-mairie",
        "starts": "2031-01-05T08:00",
        "ends": "2031-01-05T12:00",
        "comment": "RAM",
    }
    assert lab.client.post("/silences", data=window, follow_redirects=False).status_code == 303
    kinds = [s["kind"] for s in lab.client.get(
        "/api/v1/silences", headers={"Authorization": f"Token {lab.token('', '', 'reader')}"}
    ).json()["silences"]]  # fmt: skip
    assert sorted(kinds) == ["maintenance", "silence"]
    # the same mistake gets the same answer from the pages and the API (collector.muting)
    empty = {"csrf": csrf, "site": "", "host": "", "rule": "", "duration": "3600"}
    page_answer = lab.client.post("/silences", data=empty, follow_redirects=False)
    api_answer = lab.client.post(
        "/api/v1/silences",
        json={"duration": 3600},
        headers={"Authorization": f"Token {lab.token('', '', 'technician')}"},
    )
    assert page_answer.status_code == api_answer.status_code == 400
    assert (
        page_answer.text
        == api_answer.json()["error"]
        == ("a silence needs at least one of site, host, rule")
    )


def test_inventory_search_and_csv(lab: Lab) -> None:
    repo = lab.app.state.services.repository()
    for host, os_name, ram, serial in (
        ("pc-1", "Microsoft Windows 10 Professionnel", 4096, "SN-A"),
        ("pc-2", "Microsoft Windows 11 Professionnel", 8192, "=HYPERLINK(1)"),
        ("pc-3", "Microsoft Windows 10 Famille", 0, ""),
    ):
        document = {
            "deviceid": host, "itemtype": "Computer",
            "content": {"operatingsystem": {"full_name": os_name}, "hardware": {"memory": ram},
                        "bios": {"ssn": serial, "smodel": "OptiPlex 3020"}},
        }  # fmt: skip
        repo.save_inventory("Annonay", host, document, int(time.time()), None)
    login(lab.client, "paul")
    page = lab.client.get("/inventory?q=windows 10").text
    assert "pc-1" in page and "pc-2" not in page
    device = lab.client.get("/sites/Annonay/hosts/pc-1").text
    assert "Microsoft Windows 10 Professionnel" in device and "SN-A" in device
    assert "pc-2" not in lab.client.get("/inventory?max_ram=4").text
    text = lab.client.get("/inventory.csv?q=windows").text
    assert text.splitlines()[0] == "site,host,itemtype,os,model,serial,ram"
    assert "'=HYPERLINK(1)" in text  # no formula injection into a spreadsheet
    assert "Annonay,pc-1,Computer,Microsoft Windows 10 Professionnel,OptiPlex 3020,SN-A,4.0" in text
    # an empty cell stays empty (not a lone quote)
    assert "Annonay,pc-3,Computer,Microsoft Windows 10 Famille,OptiPlex 3020,,\r\n" in text


def test_user_commands(tmp_path: Path) -> None:
    config = tmp_path / "collector.toml"
    config.write_text(f'[storage]\npath = "{tmp_path}/c.db"\n')
    command = [str(VENV_BIN / "vigie-collector"), "user"]

    def run(*args: str, password: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *args, "--config", str(config)],
            input=password,
            capture_output=True,
            text=True,
        )

    assert run("add", "lea", "--role", "technician", password="short\n").returncode == 2
    assert run("add", "lea", "--role", "technician", password=PASSWORD + "\n").returncode == 0
    assert run("add", "lea", "--role", "reader", password=PASSWORD + "\n").returncode == 1
    assert run("list").stdout.strip() == "lea\ttechnician"
    assert run("passwd", "lea", password="another long one\n").returncode == 0
    import sqlite3

    stored = sqlite3.connect(tmp_path / "c.db").execute("SELECT password FROM user").fetchone()[0]
    assert stored.startswith("scrypt$") and verify_password("another long one", stored)
    assert run("remove", "lea").returncode == 0 and run("list").stdout == ""


def test_chromium_walks_through_the_ui(browser: Browser, tmp_path: Path) -> None:
    """Log in, overview, a commune, a device, acknowledge, silence, inventory, log out; on a
    desktop and on a phone. VIGIE_SCREENSHOTS=DIR keeps the screenshots (docs/screenshots)."""
    shots = Path(os.environ.get("VIGIE_SCREENSHOTS", tmp_path / "shots"))
    shots.mkdir(parents=True, exist_ok=True)
    extra = "[alerts]\ngroup_wait = 0\nevaluation_interval = 1\n"
    with run_collector(tmp_path / "collector", extra) as collector:
        subprocess.run(
            [str(VENV_BIN / "vigie-collector"), "user", "add", "marie", "--role", "technician",
             "--config", str(collector.config)],
            input=PASSWORD + "\n", text=True, check=True, capture_output=True,
        )  # fmt: skip
        now = int(time.time())
        pc = collector.token("Annonay", "pc-mairie")
        lines = []
        for i in range(30):
            ts = now - 1800 + 60 * i
            lines.append(f"cpu,site=Annonay,host=pc-mairie,cpu=cpu-total usage_idle={40 + i} {ts}")
            lines.append(f"mem,site=Annonay,host=pc-mairie used_percent={55 + i / 10} {ts}")
            lines.append(
                f"disk,site=Annonay,host=pc-mairie,path=C: used_percent={85 + i / 10} {ts}"
            )
        accept(f"{collector.url}/write?precision=s", "\n".join(lines).encode(), pc)
        inventory = {
            "deviceid": "pc-mairie-1", "itemtype": "Computer",
            "content": {"operatingsystem": {"full_name": "Microsoft Windows 10 Professionnel"},
                        "hardware": {"name": "pc-mairie", "memory": 4096},
                        "bios": {"ssn": "CZC1234XYZ", "smodel": "HP ProDesk 400 G4"}},
        }  # fmt: skip
        accept(f"{collector.url}/api/v1/inventory", json.dumps(inventory).encode(), pc)
        ups = collector.token("Privas", "onduleur", "poller")
        accept(
            f"{collector.url}/write?precision=s",
            f"ups,site=Privas,host=onduleur battery_status=3i {now}".encode(),
            ups,
        )
        # the demo's three communes, so the screenshots show a living fleet
        from collector.demo_fleet import COMMUNES, seed

        seed(collector.url, {c: collector.token(c, "*", "poller") for c in COMMUNES},
             tmp_path / "fleet.sent")  # fmt: skip
        with devtools(browser) as page:
            page.open(f"{collector.url}/")
            assert page.evaluate("location.pathname") == "/login"  # no session: the login form
            page.screenshot(shots / "login.png")
            page.evaluate(
                "document.querySelector('input[name=username]').value = 'marie';"
                f"document.querySelector('input[name=password]').value = '{PASSWORD}';"
            )
            page.submit("input[name=password]")
            assert page.evaluate("location.pathname") == "/"
            deadline = time.monotonic() + 20
            while (
                "critique" not in page.evaluate("document.body.innerText")
                and time.monotonic() < deadline
            ):
                time.sleep(0.5)
                page.open(f"{collector.url}/")
            first = page.evaluate("document.querySelector('#fleet tbody tr').innerText")
            assert "critique" in first, first  # the communes that need attention come first
            page.screenshot(shots / "fleet.png")
            page.evaluate("document.querySelector('a[href=\"/sites/Annonay\"]').click()")
            page.wait_loaded()
            assert "pc-mairie" in page.evaluate("document.querySelector('#hosts').innerText")
            page.screenshot(shots / "site.png")
            page.open(f"{collector.url}/sites/Annonay/hosts/pc-mairie?range=6h")
            assert page.evaluate("document.querySelectorAll('figure.chart').length") >= 3
            assert "HP ProDesk 400 G4" in page.evaluate("document.body.innerText")
            page.open(f"{collector.url}/sites/Saint-Agr%C3%A8ve/hosts/copieur?range=7d")
            assert page.evaluate("document.querySelectorAll('meter').length") == 2
            page.screenshot(shots / "printer.png")
            page.open(f"{collector.url}/sites/Saint-Agr%C3%A8ve/hosts/pc-mairie?range=7d")
            assert "Prévision : Disque C:" in page.evaluate("document.body.innerText")
            # axis labels a person can read, on charts as wide as the page
            sizes = page.evaluate(
                "[...document.querySelectorAll('.yaxis span, .xaxis span')]"
                ".map(e => parseFloat(getComputedStyle(e).fontSize))"
            )
            assert sizes and min(sizes) >= 11, sizes
            assert page.evaluate(
                "document.querySelector('.plot').getBoundingClientRect().width"
                " > 0.6 * document.querySelector('main').getBoundingClientRect().width"
            )
            page.screenshot(shots / "device.png")
            # a drag across a chart shows the range dragged over
            shown = page.evaluate("(() => { const d = document.querySelector('.plot').dataset;"
                                  " return Number(d.end) - Number(d.start); })()")  # fmt: skip
            page.drag(".plot", 0.5, 0.9)
            search = page.evaluate("location.search")
            assert "start=" in search and "end=" in search and "range=" not in search, search
            start, end = (int(v) for v in re.findall(r"(?:start|end)=(\d+)", search))
            assert 0.35 * shown < end - start < 0.45 * shown, (end - start, shown)
            assert page.evaluate("document.querySelector('.plot').dataset.start") == str(start)
            # pages refresh themselves, but not under a technician's typing
            page.open(f"{collector.url}/alerts")
            page.evaluate("window.mark = 1; document.body.dataset.refresh = '1'")
            time.sleep(3)
            page.wait_loaded()
            assert page.evaluate("typeof window.mark") == "undefined"  # it reloaded
            page.evaluate(
                "window.mark = 1; const box = document.querySelector('input[name=comment]');"
                "box.value = 'en cours'; box.dispatchEvent(new Event('input', {bubbles: true}));"
                "box.blur(); document.body.dataset.refresh = '1'"
            )
            time.sleep(3)
            assert page.evaluate("window.mark") == 1  # what was typed is still there
            page.open(f"{collector.url}/alerts")
            page.submit("form[action$='/ack'] button")
            assert "Acquittée par marie" in page.evaluate("document.body.innerText")
            page.submit("form[action='/silences'] select[name=duration]")
            assert "(marie)" in page.evaluate("document.querySelector('#silences').innerText")
            page.screenshot(shots / "alerts.png")
            # a form posted without its CSRF token is refused
            status = page.evaluate(
                "fetch('/silences', {method: 'POST', body: new URLSearchParams("
                "{site: 'Privas', duration: '60'})}).then(r => r.status)"
            )
            assert status == 403
            page.open(f"{collector.url}/inventory")
            page.evaluate("document.querySelector('input[name=q]').value = 'windows 10'")
            page.submit("input[name=q]")
            assert "CZC1234XYZ" in page.evaluate("document.querySelector('#inventory').innerText")
            page.screenshot(shots / "inventory.png")
            assert page.evaluate("document.cookie") == ""  # the session cookie is HttpOnly
            # a phone (390 px wide): every page fits the screen without sideways scrolling
            page.call(
                "Emulation.setDeviceMetricsOverride",
                width=390,
                height=844,
                deviceScaleFactor=2,
                mobile=True,
            )
            page.open(f"{collector.url}/")
            assert page.evaluate("document.documentElement.scrollWidth <= 391")
            page.screenshot(shots / "fleet-phone.png")
            page.open(f"{collector.url}/sites/Saint-Agr%C3%A8ve/hosts/pc-mairie?range=7d")
            assert page.evaluate("document.documentElement.scrollWidth <= 391")
            sizes = page.evaluate(
                "[...document.querySelectorAll('.yaxis span, .xaxis span')]"
                ".filter(e => e.offsetParent).map(e => parseFloat(getComputedStyle(e).fontSize))"
            )
            assert sizes and min(sizes) >= 11, sizes
            page.screenshot(shots / "device-phone.png")
            for path in ("/alerts", "/sites/Lamastre", "/inventory"):
                page.open(f"{collector.url}{path}")
                fits = "document.documentElement.scrollWidth <= 391"
                assert page.evaluate(fits), path
            page.open(f"{collector.url}/alerts")
            page.screenshot(shots / "alerts-phone.png")
            page.submit("form[action='/logout'] button")
            assert page.evaluate("location.pathname") == "/login"
            page.open(f"{collector.url}/alerts")
            assert page.evaluate("location.pathname") == "/login"


def accept(url: str, body: bytes, token: str) -> None:
    """POST with a token; the collector must accept it."""
    assert post(url, body, token)[0] in (201, 204)


def test_device_tables_name_their_columns_and_show_changes(lab: Lab) -> None:
    """SMART with named columns and units, supplies as gauges with the days they have left
    (the shipped consumption rule's forecast), inventory changes as old -> new."""
    login(lab.client, "paul")
    token = lab.token("Annonay", "copieur", "poller")
    now = int(lab.clock.now)
    tags = "site=Annonay,host=copieur"
    lines = [f"printer_supply,{tags},supply=Black\\ Toner,type=toner percent={60 - d * 4.5} "
             f"{now - (10 - d) * 86400}" for d in range(11)]  # fmt: skip
    lines.append(f"device_poll,{tags},kind=printer,method=snmp,poller=poste-accueil ok=true {now}")
    lines.append(f"smart_device,{tags},device=/dev/sda,model=ST500DM002,serial_no=Z3T8 "
                 f"health_ok=1i,temp_c=36i,power_on_hours=18342i {now}")  # fmt: skip
    lab.write(token, lines)
    pc = lab.token("Annonay", "pc-mairie")
    for version in ("7.5.4.2", "7.6.2.1"):
        software = [{"name": "LibreOffice", "version": version}]
        content = {"hardware": {"name": "pc-mairie"}, "softwares": software}
        document = {"deviceid": "pc-mairie", "itemtype": "Computer", "content": content}
        response = lab.client.post(
            "/api/v1/inventory", json=document, headers={"Authorization": f"Token {pc}"}
        )
        assert response.status_code == 204, response.text
    lab.app.state.services.writer.sync()
    page = lab.client.get("/sites/Annonay/hosts/copieur").text
    assert "<th>Heures de fonctionnement</th>" in page and "<td>36 °C</td>" in page
    assert "<dt>Interrogé par l&#39;agent de</dt><dd>poste-accueil</dd>" in page
    assert "<th></th>" not in page.split("<h2>SMART</h2>")[1].split("</table>")[0]
    assert re.search(r'<meter [^>]*value="15\.0">15,0 %</meter>', page), page
    assert re.search(r"vers le \d+ \w+, dans 3 jours", page)  # when the toner runs out
    changes = lab.client.get("/sites/Annonay/hosts/pc-mairie").text
    assert "Logiciel — modifié : LibreOffice 7.5.4.2 → 7.6.2.1" in changes


def test_fleet_search_silent_devices_and_kinds(lab: Lab) -> None:
    """Search across communes by device name, IP address or serial number; the devices
    without news for more than the chosen time; the count of each kind, in French."""
    login(lab.client, "paul")
    poller = lab.token("Tournon", "", "poller")
    now = int(lab.clock.now)
    lab.write(poller, [
        f"ping,site=Tournon,host=imprimante-rdc,kind=printer up=true {now - 2 * 3600}",
        f"ping,site=Tournon,host=box-internet,kind=router up=true {now}",
    ])  # fmt: skip
    document = {"deviceid": "imprimante-rdc", "itemtype": "Printer",
                "content": {"network_device": {"name": "imprimante-rdc", "serial": "VNB3K12345",
                                               "ips": ["10.7.0.20"]}}}  # fmt: skip
    response = lab.client.post(
        "/api/v1/inventory", json=document, headers={"Authorization": f"Token {poller}"}
    )
    assert response.status_code == 204, response.text
    lab.app.state.services.writer.sync()
    for text in ("VNB3K12345", "10.7.0.20", "imprimante"):
        page = lab.client.get("/", params={"q": text}).text
        found = page.split('id="found"')[1].split("</table>")[0]
        assert "/sites/Tournon/hosts/imprimante-rdc" in found, text
    page = lab.client.get("/").text
    silent = page.split('id="silent"')[1].split("</table>")[0]
    assert "imprimante-rdc" in silent and "box-internet" not in silent
    assert "imprimante" in silent and "2 h" in silent  # its kind and how long, in words
    assert (
        "imprimante-rdc" not in lab.client.get("/?silent=86400").text.split('id="silent-title"')[1]
    )
    kinds = page.split('id="kinds"')[1].split("</p>")[0]
    assert "ordinateur (agent Vigie)" in kinds and "routeur" in kinds and "imprimante" in kinds


def test_both_languages_have_the_same_words() -> None:
    """Every word of the UI and of the mails exists in French and in English, with the same
    placeholders and the same singular|plural forms."""
    from collector.notify.messages import MESSAGES
    from collector.web.words import WORDS

    for table in (WORDS, MESSAGES):
        assert set(table["fr"]) == set(table["en"])
        for key, french in table["fr"].items():
            english = table["en"][key]
            holes = [set(re.findall(r"{(\w*)", text)) for text in (french, english)]
            assert holes[0] == holes[1], key
            assert french.count("|") == english.count("|"), key


def english_words() -> set[str]:
    """The UI's English words that French never uses."""
    from collector.web.words import WORDS

    def words(texts: Iterator[str]) -> set[str]:
        return {w.lower() for text in texts for w in re.findall(r"[A-Za-zÀ-ÿ]{4,}", text)}

    return words(iter(WORDS["en"].values())) - words(iter(WORDS["fr"].values()))


def visible_text(page: str) -> str:
    """What a person reads: no tags, no attribute values, no script."""
    return re.sub(r"<[^>]+>", " ", page)


def test_french_pages_hold_no_english_word(lab: Lab) -> None:
    login(lab.client, "marie")
    english = english_words()
    assert {"device", "status", "acknowledge", "forecast"} <= english
    assert "device" in visible_text('<td title="Statut">Device</td>').lower()
    pc = lab.token("Annonay", "pc-mairie")
    content = {"hardware": {"name": "pc-mairie"}, "softwares": [{"name": "LibreOffice"}]}
    document = {"deviceid": "pc-mairie", "itemtype": "Computer", "content": content}
    headers = {"Authorization": f"Token {pc}"}
    assert lab.client.post("/api/v1/inventory", json=document, headers=headers).status_code == 204
    paths = ["/", "/?q=pc", "/sites/Annonay", "/sites/Privas", "/sites/Annonay/hosts/pc-mairie",
             "/sites/Annonay/hosts/pc-mairie?range=7d", "/alerts", "/inventory"]  # fmt: skip
    for path in paths:
        text = visible_text(lab.client.get(path).text)
        found = {w for w in re.findall(r"\b[A-Za-zÀ-ÿ]{4,}\b", text) if w.lower() in english}
        assert not found, f"{path}: {sorted(found)}"


def test_supplies_named_in_french() -> None:
    from collector.web.units import supply_label

    assert supply_label("Black Toner", "fr") == "Toner noir"
    assert supply_label("Cyan Toner [C] Cartridge", "fr") == "Toner cyan"
    assert supply_label("yellow ink cartridge", "fr") == "Encre jaune"
    assert supply_label("Black Cartridge HP 87A CF287A", "fr") == "Black Cartridge HP 87A CF287A"
    assert supply_label("Black Toner", "en") == "Black Toner"


def test_no_forecast_where_an_override_turns_the_rule_off(tmp_path: Path) -> None:
    """The page draws a rule's forecast only where that rule applies: a host whose overrides
    disable it shows the disk filling without the dashed line."""
    from collector.rules.load import load_rules

    overrides = tmp_path / "rules.toml"
    overrides.write_text("".join(
        f'[[override]]\nrule = "{rule}"\nsite = "Annonay"\nhost = "srv-ecole"\nenabled = false\n'
        for rule in ("disk_full_7d", "disk_full_24h")
    ))  # fmt: skip
    with Lab(tmp_path, MailSink("127.0.0.1", 1), "web@example.org",
             rules=load_rules([overrides])) as lab:  # fmt: skip
        lab.clock.now = time.time()
        lab.app.state.services.repository().add_user("paul", hash_password(PASSWORD), "reader", 0)
        now = int(lab.clock.now)
        for host in ("srv-ecole", "srv-mairie"):
            token = lab.token("Annonay", host)
            lab.write(token, [f"disk,site=Annonay,host={host},path=D: used_percent={70 + h}.0 "
                              f"{now - (20 - h) * 3600}" for h in range(21)])  # fmt: skip
        lab.app.state.services.writer.sync()
        login(lab.client, "paul")
        assert "(prévision)" in lab.client.get("/sites/Annonay/hosts/srv-mairie").text
        assert "(prévision)" not in lab.client.get("/sites/Annonay/hosts/srv-ecole").text
