"""psutil recorded and replayed, for golden-file tests of the collectors (Telegraf keeps
`testdata/` the same way): every call a collector makes, with its arguments and psutil's
answer, saved as JSON; replayed, the same calls give the same records in the same order.

Record this machine into a new case:  .venv/bin/python -m tests.psutil_replay DIR
"""

from __future__ import annotations

import json
import os
import sys
from collections import namedtuple
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from agent.collectors.base import Collector
from agent.collectors.cpu import CpuCollector
from agent.collectors.disks import DiskCollector, DiskIOCollector
from agent.collectors.memory import MemoryCollector
from agent.collectors.network import NetCollector
from agent.collectors.sensors import SensorsCollector
from agent.collectors.system import ProcessesCollector, SystemCollector
from agent.service import collect_all

Inodes = namedtuple("Inodes", "f_files f_ffree")  # what the disk collector reads of statvfs


def encode(value: Any) -> Any:
    """psutil's answer as JSON: named tuples keep their type name and fields."""
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        fields = {k: encode(getattr(value, k)) for k in value._fields}
        return {"__tuple__": type(value).__name__, **fields}
    if isinstance(value, dict):
        return {"__dict__": [[k, encode(v)] for k, v in value.items()]}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    return value


def decode(value: Any) -> Any:
    """The JSON back as psutil's records."""
    if isinstance(value, dict) and "__tuple__" in value:
        fields = {k: decode(v) for k, v in value.items() if k != "__tuple__"}
        return namedtuple(value["__tuple__"], list(fields))(**fields)
    if isinstance(value, dict) and "__dict__" in value:
        return {k: decode(v) for k, v in value["__dict__"]}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def key(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """What identifies a call."""
    return json.dumps([name, list(args), kwargs], sort_keys=True)


class Recorder:
    """The real psutil (and os.statvfs, which the disk collector reads for inodes), every
    call written down."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.Error = psutil.Error

    def statvfs(self, path: str) -> Any:
        """os.statvfs, recorded (the fields the disk collector reads)."""
        found = os.statvfs(path)
        vfs = Inodes(found.f_files, found.f_ffree)
        self.calls.append({"key": key("statvfs", (path,), {}), "result": encode(vfs)})
        return vfs

    def __getattr__(self, name: str) -> Any:
        real = getattr(psutil, name)
        if not callable(real) or isinstance(real, type):
            return real

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                result = real(*args, **kwargs)
            except Exception as err:
                self.calls.append({"key": key(name, args, kwargs), "raises": repr(err)})
                raise
            self.calls.append({"key": key(name, args, kwargs), "result": encode(result)})
            return result

        return call


class Replay:
    """psutil answering from a recording; a call that was not recorded is AttributeError,
    so a collector reading something new fails the golden test instead of passing blindly."""

    def __init__(self, recording: Path) -> None:
        self._answers: dict[str, list[dict[str, Any]]] = {}
        for call in json.loads(recording.read_text()):
            self._answers.setdefault(call["key"], []).append(call)
        self.Error = psutil.Error
        self._names = {json.loads(k)[0] for k in self._answers}

    def statvfs(self, path: str) -> Any:
        """The recorded os.statvfs."""
        return self.__getattr__("statvfs")(path)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name not in self._names:
            raise AttributeError(name)

        def call(*args: Any, **kwargs: Any) -> Any:
            answers = self._answers[key(name, args, kwargs)]
            answer = answers.pop(0) if len(answers) > 1 else answers[0]
            if "raises" in answer:
                raise OSError(answer["raises"])
            return decode(answer["result"])

        return call


def collectors(source: Any, proc: Path, sys_root: Path) -> tuple[Collector, ...]:
    """The workstation collectors on a psutil (real, recording or replaying), in the agent's
    order, with the other sources they read given explicitly."""
    return (
        CpuCollector(source, sleep=lambda _: None) if isinstance(source, Replay) else
        CpuCollector(source),
        MemoryCollector(source),
        SystemCollector(source),
        ProcessesCollector(source, proc),
        DiskCollector(source, statvfs=source.statvfs),
        DiskIOCollector(source),
        NetCollector(source),
        SensorsCollector(source, sys_root),
    )  # fmt: skip


def record(folder: Path) -> None:
    """Run every workstation collector twice on this machine, saving psutil's answers and
    the /proc files the process collector reads."""
    recorder = Recorder()
    for _ in range(2):
        collect_all(collectors(recorder, Path("/proc"), Path("/sys")), 0)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "psutil.json").write_text(json.dumps(recorder.calls, indent=1) + "\n")
    proc = folder / "proc"
    proc.mkdir(exist_ok=True)
    for name in ("stat", "loadavg"):
        (proc / name).write_text(Path("/proc", name).read_text())
    # The collector counts the numeric entries: a dozen stand for the machine's processes.
    for pid in sorted(p.name for p in Path("/proc").iterdir() if p.name.isdigit())[:12]:
        (proc / pid).write_text("")


if __name__ == "__main__":
    record(Path(sys.argv[1]))
