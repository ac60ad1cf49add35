"""Windows under Wine for the tests: python.org's embeddable CPython 3.11 running the agent's
own code on a real Windows interpreter (Windows APIs answered by Wine).

A golden Wine prefix (booted, Windows 10, the runtime of windows/runtime.py in C:\\Python311)
is built once and cached; each test session works on a copy of it, with the source tree on S:,
a scratch folder on T: and no Z: (Wine's Z: exposes the Linux root, which would make checks
such as "/proc exists" pass by accident). Facts this relies on: the Windows Python's stdout
must be a pipe (it cannot start with a file as stdout or stderr), one `wineserver -p` is kept
with /dev/null descriptors, and the desktop process (explorer.exe) is started by wineboot with
/dev/null descriptors, not by the first test process (it would inherit that process's pipes).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath

from tests.services import binary, unavailable
from windows.runtime import RuntimeBuildError, build_runtime, cache_root, write_pth

SOURCE = Path(__file__).resolve().parents[1]
PYTHON = r"C:\Python311\python.exe"
_ENV = {
    "WINEDEBUG": "-all",
    "WINEDLLOVERRIDES": "mscoree,mshtml=",  # no Mono/Gecko install dialogs
    "WINEARCH": "win64",
}


def _quiet(args: list[str], env: dict[str, str], timeout: float = 180) -> None:
    subprocess.run(
        args,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=timeout,
        check=False,
    )


def wine_env(prefix: Path) -> dict[str, str]:
    """The environment of every Wine command on `prefix` (no display: nothing is drawn)."""
    # No display (nothing is drawn) and none of the Linux Python's settings.
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY" and not k.startswith("PYTHON")}
    return {**env, **_ENV, "WINEPREFIX": str(prefix)}


# Windows 10 DLLs that Debian 12's Wine 8 lacks and that Rust-built wheels (cryptography, used
# by pysnmp for SNMPv3 privacy and by paramiko) import: forwarders to what Wine does have.
_FORWARDERS = {
    "bcryptprimitives.dll": {"ProcessPrng": "advapi32.SystemFunction036"},
    "api-ms-win-core-synch-l1-2-0.dll": {
        name: f"kernelbase.{name}"
        for name in ("WaitOnAddress", "WakeByAddressSingle", "WakeByAddressAll")
    },
}


def _add_forwarders(system32: Path, work: Path) -> None:
    """Build the forwarder DLLs with mingw's binutils into the prefix's system32."""
    tools = [shutil.which(f"x86_64-w64-mingw32-{t}") for t in ("dlltool", "ld")]
    if not all(tools):
        unavailable("binutils-mingw-w64-x86-64 is not installed (the README's test command does)")
    dlltool, ld = str(tools[0]), str(tools[1])
    for dll, exports in _FORWARDERS.items():
        definition, exported = work / f"{dll}.def", work / f"{dll}.o"
        lines = [f"LIBRARY {dll}", "EXPORTS", *(f"{k} = {v}" for k, v in exports.items())]
        definition.write_text("\n".join(lines) + "\n")
        subprocess.run([dlltool, "-d", definition, "-e", exported], check=True, timeout=60)
        link: list[str | Path] = [ld, "--dll", "-e", "0", "-o", system32 / dll, exported]
        subprocess.run(link, check=True, timeout=60)


def _wine_version(wine: str) -> str:
    done = subprocess.run([wine, "--version"], capture_output=True, text=True, timeout=60)
    return done.stdout.strip().replace(" ", "_") or "unknown"


def _golden_prefix(wine: str) -> Path:
    """Booted prefix with the runtime in C:\\Python311, built once per Wine and runtime."""
    runtime = build_runtime()
    golden = cache_root() / f"prefix-{_wine_version(wine)}-{runtime.name}-2"
    if (golden / ".complete").exists():
        return golden
    shutil.rmtree(golden, ignore_errors=True)
    with tempfile.TemporaryDirectory(dir=cache_root()) as tmp:
        prefix = Path(tmp) / "prefix"
        env = wine_env(prefix)
        _quiet([wine, "wineboot", "--init"], env)
        _quiet(["wineserver", "-w"], env)
        _quiet([wine, "winecfg", "-v", "win10"], env)
        _quiet(["wineserver", "-k"], env)
        if not (prefix / "system.reg").exists():
            unavailable(f"wineboot did not create a prefix in {prefix}")
        shutil.copytree(runtime, prefix / "drive_c" / "Python311", symlinks=True)
        _add_forwarders(prefix / "drive_c" / "windows" / "system32", Path(tmp))
        (prefix / ".complete").write_text("ok\n")
        prefix.rename(golden)
    return golden


@dataclass(frozen=True)
class Windows:
    """A running Wine prefix with the Windows CPython; `scratch` is drive T:."""

    prefix: Path
    scratch: Path
    env: dict[str, str]

    def path(self, linux: Path) -> str:
        """The Windows path of a file under `scratch` (T:) or the source tree (S:)."""
        for drive, root in (("T:", self.scratch), ("S:", SOURCE)):
            with contextlib.suppress(ValueError):
                return str(PureWindowsPath(drive + "\\", *linux.relative_to(root).parts))
        raise ValueError(f"{linux} is on no drive of the Wine prefix")

    def drive_c(self, windows_path: str) -> Path:
        """The Linux path of a C:\\ path."""
        parts = PureWindowsPath(windows_path).parts
        assert parts[0].upper() == "C:\\", windows_path
        return self.prefix.joinpath("drive_c", *parts[1:])

    def command(self, program: str, *args: str) -> list[str]:
        """A Windows command line as an argv for wine."""
        return ["wine", program, *args]

    def run(
        self, *args: str, timeout: float = 120, program: str = PYTHON, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the Windows Python (or `program`) with pipes, never a file, as stdio."""
        return subprocess.run(
            self.command(program, *args),
            env=self.env,
            cwd=self.prefix / "drive_c",
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
        )

    def popen(self, *args: str, program: str = PYTHON) -> subprocess.Popen[str]:
        """Start the Windows Python in the background, output piped."""
        return subprocess.Popen(
            self.command(program, *args),
            env=self.env,
            cwd=self.prefix / "drive_c",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
        )


@contextlib.contextmanager
def run_windows(tmp: Path) -> Iterator[Windows]:
    """A session's copy of the golden prefix, its wineserver running, stopped afterwards."""
    wine = binary("wine", "/usr/bin/wine", "/usr/lib/wine/wine64")
    try:
        golden = _golden_prefix(wine)
    except (RuntimeBuildError, OSError, subprocess.SubprocessError) as err:
        unavailable(f"cannot build the Windows runtime: {err}")
    prefix, scratch = tmp / "prefix", tmp / "scratch"
    shutil.copytree(golden, prefix, symlinks=True)
    scratch.mkdir()
    devices = prefix / "dosdevices"
    (devices / "z:").unlink(missing_ok=True)
    (devices / "s:").symlink_to(SOURCE)
    (devices / "t:").symlink_to(scratch)
    write_pth(prefix / "drive_c" / "Python311", ("S:\\",))
    env = wine_env(prefix)
    _quiet(["wineserver", "-p"], env)
    _quiet([wine, "wineboot"], env)  # services and the desktop, with /dev/null descriptors
    windows = Windows(prefix, scratch, env)
    probe = windows.run("-c", "import sys; print(sys.platform, sys.version_info[:2])")
    if probe.stdout.strip() != "win32 (3, 11)":
        unavailable(f"the Windows Python does not start under Wine: {probe.stderr[-1000:]}")
    try:
        yield windows
    finally:
        _quiet(["wineserver", "-k"], env, timeout=60)
