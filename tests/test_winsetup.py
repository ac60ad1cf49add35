"""setup.cmd's checks that need no Windows: refusal without administrator rights (Wine always
answers "administrator", so test_windows.py cannot show it), usage errors, the config it
writes."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from agent import winsetup

pytestmark = pytest.mark.services  # every test here starts real processes


def test_without_administrator_rights_nothing_is_done(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(winsetup, "is_admin", lambda: False)
    layout = winsetup.Layout(tmp_path / "program", tmp_path / "data")
    code = winsetup.main(["--collector", "https://vigie", "--enroll", "vge_x"], layout)
    assert code == winsetup.EXIT_FAILED
    assert "run setup.cmd from an administrator prompt" in capsys.readouterr().err
    assert not layout.program.exists() and not layout.data.exists()


def test_the_collector_is_required(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(winsetup, "is_admin", lambda: True)
    layout = winsetup.Layout(tmp_path / "program", tmp_path / "data")
    assert winsetup.main(["--enroll", "vge_x"], layout) == winsetup.EXIT_USAGE
    assert "--collector URL is required" in capsys.readouterr().err


def test_the_config_it_writes_reads_back_with_windows_paths_and_accents() -> None:
    ca = r"C:\ProgramData\Vigie\collector-ca.pem"
    text = winsetup.config_text("https://vigie:8443", 'Saint-Agrève "bourg"', "pc-1", Path(ca))
    config = tomllib.loads(text)
    assert config["agent"] == {"site": 'Saint-Agrève "bourg"', "host": "pc-1"}
    assert config["collector"]["ca_file"] == ca
    assert config["spool"]["path"] == "spool.db"
