"""`disk` per real filesystem and `diskio` per physical disk (Telegraf names)."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable
from typing import Any

from agent.collectors.base import LogOnce, percent, reading_errors
from protocol.lineproto import Point

log = logging.getLogger(__name__)

# Filesystems that hold no user data; psutil's all=False already drops most pseudo ones.
PSEUDO_FS = frozenset(
    {"squashfs", "tmpfs", "devtmpfs", "overlay", "iso9660", "udf", "ramfs", "autofs", "nsfs"}
)
_SKIP_DISKS = re.compile(r"^(loop|ram|zram|sr|fd|dm-)\d*")
# Linux-only psutil counters -> Telegraf's field names.
_OPTIONAL_IO = {
    "busy_time": "io_time",
    "read_merged_count": "merged_reads",
    "write_merged_count": "merged_writes",
}
# psutil's Windows drive types that hold no local data: a CD-ROM, a network share, a USB stick.
NOT_FIXED = frozenset({"cdrom", "remote", "removable", "ramdisk"})
_DRIVE = re.compile(r"^([A-Za-z]:)\\?$")


def is_local_filesystem(part: Any) -> bool:
    """Whether a psutil partition is a local disk worth reporting: a real filesystem, and on
    Windows a fixed drive (not a CD-ROM, a mapped network share or a removable stick)."""
    return (
        bool(part.fstype)
        and part.fstype not in PSEUDO_FS
        and not NOT_FIXED & set(part.opts.split(","))
    )


def local_partitions(partitions: Iterable[Any]) -> list[Any]:
    """The local filesystems among psutil's partitions, each device once: bind mounts show
    one device several times, and its first mount point stands for it."""
    seen: set[str] = set()
    found = []
    for part in partitions:
        if is_local_filesystem(part) and part.device not in seen:
            seen.add(part.device)
            found.append(part)
    return found


def clean_mountpoint(path: str) -> str:
    """A mount point as a tag value: `C:\\` becomes `C:`.

    A trailing backslash cannot be stored by InfluxDB 1.x, so it is dropped where produced.
    """
    match = _DRIVE.match(path)
    return match.group(1).upper() if match else path


STATVFS = getattr(os, "statvfs", None)  # inodes, where the system has them (not Windows)


class DiskCollector:
    """Space and inodes of each mounted real filesystem; a vanished mount is skipped."""

    name = "disk"

    def __init__(self, psutil: Any, statvfs: Callable[[str], Any] | None = STATVFS) -> None:
        self._psutil = psutil
        self._statvfs = statvfs  # inodes; None on Windows
        self._log = LogOnce(log)
        self._errors = reading_errors(psutil)

    def collect(self, now: int) -> list[Point]:
        """One `disk` point per filesystem."""
        ps = self._psutil
        try:
            partitions = ps.disk_partitions(all=False)
        except self._errors as err:
            self._log.warn("partitions", "cannot list filesystems: %s", err)
            return []
        points = []
        for part in local_partitions(partitions):
            try:
                usage = ps.disk_usage(part.mountpoint)
            except self._errors as err:
                self._log.warn(
                    f"usage:{part.mountpoint}", "cannot read %s: %s", part.mountpoint, err
                )
                continue
            fields: dict[str, int | float] = {
                "total": int(usage.total),
                "used": int(usage.used),
                "free": int(usage.free),
                # As df and Telegraf: used / (used + available to users), not used / total.
                "used_percent": round(percent(usage.used, usage.used + usage.free), 3),
            }
            if self._statvfs is not None:
                try:
                    vfs = self._statvfs(part.mountpoint)
                except OSError as err:
                    self._log.warn(f"inodes:{part.mountpoint}", "no inodes for %s: %s", part, err)
                else:
                    if vfs.f_files:
                        fields.update(
                            inodes_total=vfs.f_files,
                            inodes_free=vfs.f_ffree,
                            inodes_used=vfs.f_files - vfs.f_ffree,
                        )
            device = clean_mountpoint(part.device)  # C:\ -> C:, /dev/sda1 as it is
            tags = {
                "path": clean_mountpoint(part.mountpoint),
                "device": os.path.basename(device) or device,
                "fstype": part.fstype,
                "mode": "ro" if "ro" in part.opts.split(",") else "rw",
            }
            points.append(Point("disk", tags, fields, now))
        return points


class DiskIOCollector:
    """Raw I/O counters per disk; the collector turns them into rates."""

    name = "diskio"

    def __init__(self, psutil: Any) -> None:
        self._psutil = psutil
        self._log = LogOnce(log)
        self._errors = reading_errors(psutil)

    def collect(self, now: int) -> list[Point]:
        """One `diskio` point per physical disk or partition (loop and RAM disks left out)."""
        try:
            counters = self._psutil.disk_io_counters(perdisk=True) or {}
        except self._errors as err:
            self._log.warn("diskio", "cannot read disk I/O counters: %s", err)
            return []
        points = []
        for name, io in sorted(counters.items()):
            if _SKIP_DISKS.match(name):
                continue
            fields = {
                "reads": int(io.read_count),
                "writes": int(io.write_count),
                "read_bytes": int(io.read_bytes),
                "write_bytes": int(io.write_bytes),
                "read_time": int(io.read_time),
                "write_time": int(io.write_time),
            }
            for attr, key in _OPTIONAL_IO.items():
                if hasattr(io, attr):
                    fields[key] = int(getattr(io, attr))
            points.append(Point("diskio", {"name": name}, fields, now))
        return points
