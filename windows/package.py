"""`./dev.sh windows-package`: the agent's Windows package, built on Linux. A zip holding
python.org's embeddable CPython 3.11 with the agent's wheels and the agent itself
(python\\), and setup.cmd, which installs, enrolls and starts the service."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from agent import __version__
from windows.runtime import RuntimeBuildError, build_runtime

HERE = Path(__file__).parent
PACKAGES = ("agent", "protocol")  # the agent and the line protocol and TOML it shares


def build(out: Path) -> Path:
    """Write vigie-agent-VERSION-win64.zip into `out` and return its path."""
    name = f"vigie-agent-{__version__}-win64"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / name
        shutil.copytree(build_runtime(), root / "python", ignore=shutil.ignore_patterns(".*"))
        for package in PACKAGES:
            shutil.copytree(
                HERE.parent / package,
                root / "python" / "Lib" / "site-packages" / package,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            )
        shutil.copyfile(HERE / "setup.cmd", root / "setup.cmd")
        target = out / f"{name}.zip"
        partial = target.with_suffix(".part")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(root.rglob("*")):
                archive.write(path, path.relative_to(root.parent))
        partial.replace(target)
    return target


def main() -> int:
    """Build the package; exit 1 with the failed step's message."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("dist"), help="folder (default dist)")
    args = parser.parse_args()
    try:
        target = build(args.out)
    except (RuntimeBuildError, OSError) as err:
        sys.stderr.write(f"windows-package: {err}\n")
        return 1
    size = target.stat().st_size / 2**20
    print(f"{target} ({size:.1f} MiB): unzip on the PC, then from an administrator prompt:")
    print("  setup.cmd --collector https://VIGIE:8443 --enroll CODE [--ca-file ca.pem]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
