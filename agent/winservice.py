"""The agent as a real Windows service: the Service Control Manager protocol through ctypes
(advapi32; no pywin32, whose service host needs a post-install step), registration with
recovery actions (restart after one minute, three times a day), and status.

The SCM starts `python.exe -m agent.cli service run --config FILE`; that process hands its
main thread to StartServiceCtrlDispatcherW, which calls ServiceMain on a thread of its own.
A stop or shutdown request sets the agent's stop event; the SCM is told STOPPED only once the
agent has written what it held and closed its spool.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import threading
import time
from collections.abc import Callable, Iterator
from ctypes import wintypes
from typing import Any

log = logging.getLogger(__name__)

SERVICE_NAME = "VigieAgent"
DISPLAY_NAME = "Vigie agent"
DESCRIPTION = "Vigie: health, SMART and inventory of this PC (and of the site's devices)"
STATES = {
    1: "stopped",
    2: "start pending",
    3: "stop pending",
    4: "running",
    5: "continue pending",
    6: "pause pending",
    7: "paused",
}
_STOPPED, _START_PENDING, _STOP_PENDING, _RUNNING = 1, 2, 3, 4
_OWN_PROCESS, _AUTO_START, _ERROR_NORMAL = 0x10, 2, 1
_ALL_ACCESS_SCM, _ALL_ACCESS_SERVICE = 0xF003F, 0xF01FF
_CONFIG_DESCRIPTION, _CONFIG_FAILURE_ACTIONS, _CONFIG_FAILURE_FLAG = 1, 2, 4
_CONTROL_STOP, _CONTROL_SHUTDOWN = 1, 5
_ACCEPT_STOP_SHUTDOWN = 1 | 4
_RESTART = 1
_ERR_EXISTS, _ERR_MISSING, _ERR_NOT_ACTIVE, _ERR_NOT_FROM_SCM = 1073, 1060, 1062, 1063
_ERR_RUNNING = 1056
_STOP_WAIT_HINT_MS = 60_000  # the agent writes held batches and closes its spool


class ServiceError(OSError):
    """A Service Control Manager call failed; the message says which and what to do."""


class _Status(ctypes.Structure):
    _fields_ = (
        ("dwServiceType", wintypes.DWORD),
        ("dwCurrentState", wintypes.DWORD),
        ("dwControlsAccepted", wintypes.DWORD),
        ("dwWin32ExitCode", wintypes.DWORD),
        ("dwServiceSpecificExitCode", wintypes.DWORD),
        ("dwCheckPoint", wintypes.DWORD),
        ("dwWaitHint", wintypes.DWORD),
    )


class _Action(ctypes.Structure):
    _fields_ = (("Type", wintypes.DWORD), ("Delay", wintypes.DWORD))


class _FailureActions(ctypes.Structure):
    _fields_ = (
        ("dwResetPeriod", wintypes.DWORD),
        ("lpRebootMsg", wintypes.LPWSTR),
        ("lpCommand", wintypes.LPWSTR),
        ("cActions", wintypes.DWORD),
        ("lpsaActions", ctypes.POINTER(_Action)),
    )


class _FailureFlag(ctypes.Structure):
    _fields_ = (("fFailureActionsOnNonCrashFailures", wintypes.BOOL),)


class _Description(ctypes.Structure):
    _fields_ = (("lpDescription", wintypes.LPWSTR),)


class _Api:
    """advapi32 with Windows' last-error kept per call; looked up by name because mypy
    checks this module on Linux, where ctypes has no WinDLL."""

    def __init__(self) -> None:
        win: Any = ctypes
        if not hasattr(win, "WinDLL"):
            raise ServiceError("Windows services exist on Windows only")
        self.dll = win.WinDLL("advapi32", use_last_error=True)
        self.functype = win.WINFUNCTYPE
        self.last_error: Callable[[], int] = win.get_last_error
        self._format = win.FormatError
        for name in (
            "OpenSCManagerW",
            "OpenServiceW",
            "CreateServiceW",
            "RegisterServiceCtrlHandlerExW",
        ):
            getattr(self.dll, name).restype = wintypes.HANDLE

    def check(self, result: Any, what: str, hint: str = "") -> Any:
        """`result`, or ServiceError naming the call, Windows' reason and the fix."""
        if result:
            return result
        code = self.last_error()
        reason = self._format(code).strip() if code else "unknown error"
        raise ServiceError(code, f"{what}: {reason}" + (f" ({hint})" if hint else ""))


def _manager(api: _Api) -> int:
    return int(
        api.check(
            api.dll.OpenSCManagerW(None, None, _ALL_ACCESS_SCM),
            "cannot open the Service Control Manager",
            "run this from an administrator prompt",
        )
    )


def _service(api: _Api, manager: int) -> int:
    handle = api.dll.OpenServiceW(wintypes.HANDLE(manager), SERVICE_NAME, _ALL_ACCESS_SERVICE)
    if not handle and api.last_error() == _ERR_MISSING:
        raise ServiceError(_ERR_MISSING, f"the {SERVICE_NAME} service is not installed")
    return int(api.check(handle, f"cannot open the {SERVICE_NAME} service"))


def _configure(api: _Api, service: int) -> None:
    """Description and recovery: restart after 60 s (three times, counter reset daily),
    also when the agent exits with an error rather than crashing."""
    handle = wintypes.HANDLE(service)
    description = _Description(DESCRIPTION)
    api.check(
        api.dll.ChangeServiceConfig2W(handle, _CONFIG_DESCRIPTION, ctypes.byref(description)),
        "cannot set the service's description",
    )
    actions = (_Action * 3)(*[_Action(_RESTART, 60_000)] * 3)
    failure = _FailureActions(86_400, None, None, 3, actions)
    api.check(
        api.dll.ChangeServiceConfig2W(handle, _CONFIG_FAILURE_ACTIONS, ctypes.byref(failure)),
        "cannot set the service's recovery actions",
    )
    flag = _FailureFlag(True)
    if not api.dll.ChangeServiceConfig2W(handle, _CONFIG_FAILURE_FLAG, ctypes.byref(flag)):
        # Wine answers "invalid level"; a crash still triggers the restarts set above.
        log.warning("the SCM refused recovery on error exits (error %d)", api.last_error())


def install(command_line: str) -> str:
    """Register (or update) the service to start at boot as LocalSystem; idempotent."""
    api = _Api()
    manager = _manager(api)
    try:
        # Both calls take the same configuration: type, start, error control, command line,
        # then load order group, tag, dependencies, account (LocalSystem) and password unset.
        config = (_OWN_PROCESS, _AUTO_START, _ERROR_NORMAL, command_line, *[None] * 5)
        created = api.dll.CreateServiceW(
            wintypes.HANDLE(manager), SERVICE_NAME, DISPLAY_NAME, _ALL_ACCESS_SERVICE, *config
        )
        if created:
            service, verb = int(created), "installed"
        elif api.last_error() == _ERR_EXISTS:
            service, verb = _service(api, manager), "updated"
            api.check(
                api.dll.ChangeServiceConfigW(wintypes.HANDLE(service), *config, DISPLAY_NAME),
                "cannot update the service",
            )
        else:
            api.check(0, "cannot create the service", "run this from an administrator prompt")
            raise AssertionError("unreachable")
        try:
            _configure(api, service)
        finally:
            api.dll.CloseServiceHandle(wintypes.HANDLE(service))
    finally:
        api.dll.CloseServiceHandle(wintypes.HANDLE(manager))
    return f"service {SERVICE_NAME} {verb}: {command_line}"


def _query(api: _Api, service: int) -> _Status:
    status = _Status()
    api.check(
        api.dll.QueryServiceStatus(wintypes.HANDLE(service), ctypes.byref(status)),
        "cannot query the service",
    )
    return status


@contextlib.contextmanager
def _installed() -> Iterator[tuple[_Api, int] | None]:
    """The SCM's API and the service's handle, or None when it is not installed."""
    api = _Api()
    manager = _manager(api)
    try:
        try:
            service = _service(api, manager)
        except ServiceError as err:
            if err.errno != _ERR_MISSING:
                raise
            yield None
            return
        try:
            yield api, service
        finally:
            api.dll.CloseServiceHandle(wintypes.HANDLE(service))
    finally:
        api.dll.CloseServiceHandle(wintypes.HANDLE(manager))


def _stop(api: _Api, service: int, wait: float) -> None:
    status = _Status()
    if api.dll.ControlService(wintypes.HANDLE(service), _CONTROL_STOP, ctypes.byref(status)):
        deadline = time.monotonic() + wait
        while _query(api, service).dwCurrentState != _STOPPED:
            if time.monotonic() > deadline:
                raise ServiceError(f"the service did not stop within {wait:.0f} s")
            time.sleep(0.5)
    elif api.last_error() != _ERR_NOT_ACTIVE:
        api.check(0, "cannot stop the service")


def start() -> str:
    """Start the installed service (a running one is left as it is)."""
    with _installed() as found:
        if found is None:
            raise ServiceError(_ERR_MISSING, f"the {SERVICE_NAME} service is not installed")
        api, service = found
        started = api.dll.StartServiceW(wintypes.HANDLE(service), 0, None)
        if not started and api.last_error() != _ERR_RUNNING:
            api.check(0, "cannot start the service", f"see {SERVICE_NAME}'s log file")
    return f"service {SERVICE_NAME} started"


def stop(wait: float = 60.0) -> str:
    """Stop the service, waiting for the agent to write what it holds and close its spool."""
    with _installed() as found:
        if found is None:
            return f"service {SERVICE_NAME} is not installed"
        _stop(*found, wait)
    return f"service {SERVICE_NAME} stopped"


def uninstall(wait: float = 60.0) -> str:
    """Stop the service, then delete it."""
    with _installed() as found:
        if found is None:
            return f"service {SERVICE_NAME} is not installed: nothing to remove"
        api, service = found
        _stop(api, service, wait)
        api.check(api.dll.DeleteService(wintypes.HANDLE(service)), "cannot delete the service")
    return f"service {SERVICE_NAME} removed"


def status() -> str:
    """The service's state in words ("running", "stopped", "not installed")."""
    with _installed() as found:
        if found is None:
            return "not installed"
        return STATES.get(_query(*found).dwCurrentState, "unknown")


def serve(main: Callable[[threading.Event], None]) -> None:
    """Run `main(stop)` as the service the SCM started; returns when it has stopped.
    ServiceError when this process was not started by the SCM."""
    api = _Api()
    stop = threading.Event()
    state: dict[str, Any] = {}

    def report(current: int, exit_code: int = 0, wait_hint: int = 0) -> None:
        accepted = _ACCEPT_STOP_SHUTDOWN if current == _RUNNING else 0
        status = _Status(_OWN_PROCESS, current, accepted, exit_code, 0, 0, wait_hint)
        api.dll.SetServiceStatus(wintypes.HANDLE(state["handle"]), ctypes.byref(status))

    handler_type = api.functype(
        wintypes.DWORD, wintypes.DWORD, wintypes.DWORD, wintypes.LPVOID, wintypes.LPVOID
    )
    main_type = api.functype(None, wintypes.DWORD, ctypes.POINTER(wintypes.LPWSTR))

    def handler(control: int, _event: int, _data: Any, _context: Any) -> int:
        if control in (_CONTROL_STOP, _CONTROL_SHUTDOWN):
            log.info("service: %s requested", "stop" if control == _CONTROL_STOP else "shutdown")
            report(_STOP_PENDING, wait_hint=_STOP_WAIT_HINT_MS)
            stop.set()
        return 0

    def service_main(_argc: int, _argv: Any) -> None:
        state["handle"] = api.check(
            api.dll.RegisterServiceCtrlHandlerExW(SERVICE_NAME, state["handler"], None),
            "cannot register the service's control handler",
        )
        report(_RUNNING)
        exit_code = 0
        try:
            main(stop)
        except Exception:  # the SCM must hear STOPPED, and its recovery restarts us
            log.exception("service: the agent failed")
            exit_code = 1
        report(_STOPPED, exit_code=exit_code)

    state["handler"] = handler_type(handler)
    entry = main_type(service_main)

    class _Entry(ctypes.Structure):
        _fields_ = (("name", wintypes.LPWSTR), ("main", main_type))

    table = (_Entry * 2)(_Entry(SERVICE_NAME, entry), _Entry(None, main_type()))
    if not api.dll.StartServiceCtrlDispatcherW(table):
        if api.last_error() == _ERR_NOT_FROM_SCM:
            raise ServiceError(
                _ERR_NOT_FROM_SCM,
                "`service run` is what the Service Control "
                "Manager starts; from a prompt use `vigie-agent run`",
            )
        api.check(0, "cannot connect to the Service Control Manager")
