"""Typed reading of TOML config tables: every error names the file, the key and the reason."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
_MISSING: Any = object()


class ConfigError(Exception):
    """A config file that cannot be used; the message says where and why."""

    def __init__(self, path: Path | str, key: str, reason: str) -> None:
        self.path, self.key, self.reason = str(path), key, reason
        super().__init__(f"{path}: {key}: {reason}" if key else f"{path}: {reason}")


def load_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file, turning I/O and syntax errors into ConfigError."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(path, "", "file not found") from None
    except PermissionError:
        raise ConfigError(path, "", "permission denied") from None
    except IsADirectoryError:
        raise ConfigError(path, "", "is a directory, not a file") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(path, "", f"invalid TOML: {err}") from None
    except UnicodeDecodeError as err:
        raise ConfigError(path, "", f"not UTF-8 text: {err}") from None


class Table:
    """One TOML table read key by key; `done()` rejects keys nobody asked for."""

    def __init__(self, data: Any, path: Path, prefix: str = "") -> None:
        if not isinstance(data, dict):
            raise ConfigError(path, prefix or "(top)", "must be a table")
        self._data: dict[str, Any] = data
        self._path = path
        self._prefix = prefix
        self._used: set[str] = set()

    @property
    def path(self) -> Path:
        """The file this table was read from."""
        return self._path

    def _name(self, key: str) -> str:
        return f"{self._prefix}.{key}" if self._prefix else key

    def error(self, key: str, reason: str) -> ConfigError:
        """An error about one key of this table."""
        return ConfigError(self._path, self._name(key), reason)

    def _get(self, key: str, kind: type[T] | tuple[type, ...], label: str, default: Any) -> Any:
        self._used.add(key)
        if key not in self._data:
            if default is _MISSING:
                raise self.error(key, "required key is missing")
            return default
        value = self._data[key]
        # bool is an int in Python; a TOML `true` is not a number here.
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise self.error(key, f"expected {label}, got a boolean")
        if not isinstance(value, kind):
            raise self.error(key, f"expected {label}, got {type(value).__name__} {value!r}")
        return value

    def names(self) -> list[str]:
        """The keys present (for tables keyed by name, such as sites)."""
        return list(self._data)

    def has(self, key: str) -> bool:
        """Whether the key is present."""
        return key in self._data

    def string(self, key: str, default: Any = _MISSING, *, choices: tuple[str, ...] = ()) -> Any:
        """A string, optionally one of `choices`."""
        value = self._get(key, str, "a string", default)
        if choices and value not in choices:
            raise self.error(key, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def integer(
        self, key: str, default: Any = _MISSING, *, low: int | None = None, high: int | None = None
    ) -> Any:
        """An integer within [low, high]."""
        value = self._get(key, int, "an integer", default)
        if value is not None and low is not None and value < low:
            raise self.error(key, f"must be at least {low}, got {value}")
        if value is not None and high is not None and value > high:
            raise self.error(key, f"must be at most {high}, got {value}")
        return value

    def number(self, key: str, default: Any = _MISSING, *, low: float | None = None) -> Any:
        """An integer or float, at least `low`."""
        value = self._get(key, (int, float), "a number", default)
        if value is not None and low is not None and value < low:
            raise self.error(key, f"must be at least {low}, got {value}")
        return value if value is None else float(value)

    def boolean(self, key: str, default: Any = _MISSING) -> Any:
        """A boolean."""
        return self._get(key, bool, "a boolean (true or false)", default)

    def str_list(self, key: str, default: Any = _MISSING) -> Any:
        """A list of strings, as a tuple."""
        value = self._get(key, list, "a list of strings", default)
        if value is default:
            return value
        for item in value:
            if not isinstance(item, str):
                raise self.error(key, f"expected a list of strings, found {item!r}")
        return tuple(value)

    def mapping(self, key: str) -> dict[str, Any]:
        """An inline table kept as a plain dict, checked later by whoever uses it."""
        return dict(self._get(key, dict, "a table", {}))

    def table(self, key: str) -> Table:
        """A sub-table; an absent one reads as empty."""
        value = self._get(key, dict, "a table", {})
        return Table(value, self._path, self._name(key))

    def tables(self, key: str) -> list[Table]:
        """An array of tables ([[key]])."""
        value = self._get(key, list, "an array of tables", [])
        return [Table(item, self._path, f"{self._name(key)}[{i}]") for i, item in enumerate(value)]

    def done(self) -> None:
        """Reject any key that was not read: a typo must not be silently ignored."""
        unknown = sorted(set(self._data) - self._used)
        if unknown:
            raise self.error(unknown[0], "unknown key")


def path_value(table: Table, key: str, default: Path | None, base: Path) -> Path | None:
    """A path key, resolved relative to the config file's folder."""
    text = table.string(key, None)
    if text is None:
        return default
    path = Path(text).expanduser()
    return path if path.is_absolute() else (base / path)
