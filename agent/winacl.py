"""Windows file permissions: the agent's data folder and token readable by SYSTEM and the
Administrators group only (what mode 0600 owned by root is on Linux), through advapi32.

Files and folders are created with that security descriptor, so there is no moment when they
are readable by users; an existing one has its DACL replaced.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
from collections.abc import Iterator
from ctypes import wintypes
from pathlib import Path
from typing import Any

# Protected (nothing inherited from C:\ProgramData), full control to SYSTEM and Administrators,
# inherited by what the folder holds; no other entry, so users cannot read the token.
ADMINS_ONLY = "D:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"
_SE_FILE_OBJECT = 1
_DACL = 0x4
_PROTECTED_DACL = 0x80000000
_SDDL_REVISION = 1
_GENERIC_WRITE = 0x40000000
_CREATE_ALWAYS = 2
_NORMAL = 0x80
_ALREADY_EXISTS = 183


class _SecurityAttributes(ctypes.Structure):
    _fields_ = (
        ("nLength", wintypes.DWORD),
        ("lpSecurityDescriptor", ctypes.c_void_p),
        ("bInheritHandle", wintypes.BOOL),
    )


def _dll(name: str) -> Any:
    win: Any = ctypes  # looked up by name: mypy checks this module on Linux
    return win.WinDLL(name, use_last_error=True)


def _last_error() -> int:
    win: Any = ctypes
    return int(win.get_last_error())


def _fail(what: str, path: Path, code: int) -> OSError:
    win: Any = ctypes
    return OSError(code, f"{what} {path}: {win.FormatError(code).strip()}")


@contextlib.contextmanager
def _admins_only(path: Path) -> Iterator[ctypes.c_void_p]:
    descriptor = ctypes.c_void_p()
    if not _dll("advapi32").ConvertStringSecurityDescriptorToSecurityDescriptorW(
        ADMINS_ONLY, _SDDL_REVISION, ctypes.byref(descriptor), None
    ):
        raise _fail("cannot build the permissions for", path, _last_error())
    try:
        yield descriptor
    finally:
        _dll("kernel32").LocalFree(descriptor)


def restrict_to_admins(path: Path) -> None:
    """Replace the DACL of an existing file or folder by ADMINS_ONLY."""
    advapi = _dll("advapi32")
    with _admins_only(path) as descriptor:
        present, dacl, defaulted = wintypes.BOOL(), ctypes.c_void_p(), wintypes.BOOL()
        advapi.GetSecurityDescriptorDacl(
            descriptor, ctypes.byref(present), ctypes.byref(dacl), ctypes.byref(defaulted)
        )
        error = advapi.SetNamedSecurityInfoW(
            str(path), _SE_FILE_OBJECT, _DACL | _PROTECTED_DACL, None, None, dacl, None
        )
    if error:
        raise _fail("cannot restrict the permissions of", path, error)


def private_folder(path: Path) -> None:
    """Create `path` (parents as usual) readable by SYSTEM and Administrators only, or
    restrict it if it exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _admins_only(path) as descriptor:
        attributes = _SecurityAttributes(ctypes.sizeof(_SecurityAttributes), descriptor, False)
        created = _dll("kernel32").CreateDirectoryW(str(path), ctypes.byref(attributes))
        error = 0 if created else _last_error()
    if error == _ALREADY_EXISTS:
        restrict_to_admins(path)
    elif error:
        raise _fail("cannot create", path, error)


def private_file(path: Path) -> int:
    """A new (or emptied) file readable by SYSTEM and Administrators only, open for writing:
    its file descriptor."""
    kernel = _dll("kernel32")
    kernel.CreateFileW.restype = wintypes.HANDLE
    with _admins_only(path) as descriptor:
        attributes = _SecurityAttributes(ctypes.sizeof(_SecurityAttributes), descriptor, False)
        handle = kernel.CreateFileW(
            str(path), _GENERIC_WRITE, 0, ctypes.byref(attributes), _CREATE_ALWAYS, _NORMAL, None
        )
        if handle in (None, wintypes.HANDLE(-1).value):
            raise _fail("cannot create", path, _last_error())
    msvcrt: Any = importlib.import_module("msvcrt")  # Windows only
    return int(msvcrt.open_osfhandle(handle, 0))


def dacl_sddl(path: Path) -> str:
    """The DACL of `path` in SDDL ("D:PAI(A;;FA;;;SY)…"), to check what was set."""
    advapi = _dll("advapi32")
    descriptor = ctypes.c_void_p()
    error = advapi.GetNamedSecurityInfoW(
        str(path), _SE_FILE_OBJECT, _DACL, None, None, None, None, ctypes.byref(descriptor)
    )
    if error:
        raise _fail("cannot read the permissions of", path, error)
    text = wintypes.LPWSTR()
    try:
        if not advapi.ConvertSecurityDescriptorToStringSecurityDescriptorW(
            descriptor, _SDDL_REVISION, _DACL, ctypes.byref(text), None
        ):
            raise _fail("cannot read the permissions of", path, _last_error())
        return str(text.value)
    finally:
        _dll("kernel32").LocalFree(descriptor)
