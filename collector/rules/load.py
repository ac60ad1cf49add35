"""Reading rule files: shipped defaults, then the operator's files (new rules and overrides).
Every error names the file and the line."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from collector.rules.model import (
    CHANGE_MODES,
    KINDS,
    OPERATORS,
    SEVERITIES,
    Override,
    Rule,
    RuleSet,
    parse_duration,
)

DEFAULT_RULES = Path(__file__).with_name("default.toml")
_DURATIONS = ("for", "keep_firing_for", "window", "horizon")
_NUMBERS = ("value", "clear", "gate", "refill")
_STRINGS = (
    "name", "kind", "severity", "measurement", "field", "op", "mode", "scope", "inhibits", "unit",
)  # fmt: skip
_TEXTS = ("summary", "action")  # language = text
_RULE_KEYS = {*_DURATIONS, *_NUMBERS, *_STRINGS, *_TEXTS, "where", "require", "count", "states"}
_OVERRIDABLE = {*_DURATIONS, *_NUMBERS, "severity", "count"}
_NEEDS_FIELD = ("threshold", "prediction", "consumption", "change")


class RuleError(Exception):
    """A rule file is wrong; the message reads FILE:LINE: what (one line per mistake when
    several were found)."""

    def __init__(self, path: Path, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path, self.line = path, line
        self.count = 1

    @classmethod
    def combined(cls, errors: Sequence[RuleError]) -> RuleError:
        """One error reporting every one of `errors`, a line each, so that a file is fixed
        in one pass rather than one mistake per run."""
        error = cls(errors[0].path, errors[0].line, "")
        error.args = ("\n".join(str(e) for e in errors),)
        error.count = sum(e.count for e in errors)
        return error


def _headers(text: str, table: str) -> list[int]:
    """Line numbers of each `[[table]]` header, in order."""
    pattern = re.compile(rf"^\s*\[\[\s*{table}\s*\]\]")
    return [n for n, line in enumerate(text.splitlines(), start=1) if pattern.match(line)]


def _key_line(text: str, start: int, key: str) -> int:
    """The line of `key =` in the table that starts at `start` (the header when not found)."""
    lines = text.splitlines()
    pattern = re.compile(rf"^\s*{re.escape(key)}(\.\w+)?\s*=")
    for number in range(start, len(lines)):
        if number > start and lines[number].lstrip().startswith("["):
            break
        if pattern.match(lines[number]):
            return number + 1
    return start


Fail = Callable[[str, str], RuleError]  # (key, message) -> the error naming the key's line
# Keys whose value must be one of a list: (default, choices, what the error says).
_CHOICES: dict[str, tuple[str, Sequence[str], str]] = {
    "kind": ("", KINDS, f"kind must be one of {', '.join(KINDS)}"),
    "severity": ("", SEVERITIES, f"severity must be one of {', '.join(SEVERITIES)}"),
    "op": (">", tuple(OPERATORS), f"op must be one of {' '.join(OPERATORS)}"),
    "mode": ("rise", CHANGE_MODES, f"mode must be one of {', '.join(CHANGE_MODES)}"),
    "scope": ("host", ("host", "site"), "scope must be host or site"),
    "inhibits": ("", ("", "site"), 'inhibits must be "site"'),
}


def _rule(raw: dict[str, Any], path: Path, text: str, line: int) -> Rule:
    def fail(key: str, message: str) -> RuleError:
        return RuleError(path, _key_line(text, line, key) if key else line, message)

    _check_shape(raw, fail)
    return Rule(
        **{k: raw[k] for k in _STRINGS if k in raw},
        **_values(raw, fail),
        where=_where(raw.get("where", {}), fail),
        require=_require(raw.get("require", {}), fail),
        summary=_texts(raw, "summary", fail),
        action=_texts(raw, "action", fail),
        states=_states(raw.get("states", {}), fail),
        line=line,
    )


def _check_shape(raw: dict[str, Any], fail: Fail) -> None:
    """Known keys, required strings, values among their choices, what each kind needs."""
    unknown = sorted(set(raw) - _RULE_KEYS)
    if unknown:
        raise fail(unknown[0], f"unknown key {unknown[0]!r}")
    for key in ("name", "kind", "severity", "measurement"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise fail(key if key in raw else "", f"{key} is required (a string)")
    for key in _STRINGS:
        if key in raw and not isinstance(raw[key], str):
            raise fail(key, f"{key} must be a string")
    for key, (default, choices, message) in _CHOICES.items():
        if raw.get(key, default) not in choices:
            raise fail(key, message)
    if raw["kind"] in _NEEDS_FIELD and not raw.get("field"):
        raise fail("", f"a {raw['kind']} rule needs a field")
    if raw["kind"] in ("prediction", "consumption") and "horizon" not in raw:
        raise fail("", f"a {raw['kind']} rule needs a horizon")


def _values(raw: dict[str, Any], fail: Fail) -> dict[str, Any]:
    """Durations in seconds, numbers as floats, and the count."""
    values: dict[str, Any] = {}
    for key in _DURATIONS:
        if key in raw:
            try:
                values["for_" if key == "for" else key] = parse_duration(raw[key])
            except ValueError as err:
                raise fail(key, f"{key}: {err}") from None
    for key in _NUMBERS:
        if key in raw:
            if not isinstance(raw[key], int | float) or isinstance(raw[key], bool):
                raise fail(key, f"{key} must be a number")
            values[key] = float(raw[key])
    if "count" in raw:
        if not isinstance(raw["count"], int) or raw["count"] < 1:
            raise fail("count", "count must be a positive integer")
        values["count"] = raw["count"]
    return values


def _where(where: object, fail: Fail) -> dict[str, tuple[str, ...]]:
    """`where.TAG = "value"` or `["a", "b"]`: the tag values a series must have."""
    if not isinstance(where, dict):
        raise fail("where", "where must be a table of tag = value or [values]")
    tags: dict[str, tuple[str, ...]] = {}
    for tag, allowed in where.items():
        options = allowed if isinstance(allowed, list) else [allowed]
        if not all(isinstance(o, str) for o in options):
            raise fail("where", f"where.{tag} must be a string or a list of strings")
        tags[tag] = tuple(options)
    return tags


def _require(require: object, fail: Fail) -> dict[str, float]:
    """`require.FIELD = N`: another field of the sample must equal N."""
    if not isinstance(require, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in require.values()
    ):
        raise fail("require", "require must be a table of field = number")
    return {k: float(v) for k, v in require.items()}


def _texts(raw: dict[str, Any], key: str, fail: Fail) -> dict[str, str]:
    """`summary.fr`/`.en` (required) or `action.fr`/`.en` (both or none)."""
    found = raw.get(key, {})
    if not isinstance(found, dict) or not all(isinstance(v, str) for v in found.values()):
        raise fail(key, f"{key} must be a table of language = text")
    if (key == "summary" or found) and not (found.get("fr") and found.get("en")):
        raise fail(key, f"{key} needs a French (fr) and an English (en) text")
    return dict(found)


def _states(raw: object, fail: Fail) -> dict[str, dict[str, str]]:
    """`states.fr = { "5" = "sur batterie" }`: the words for a field's state codes, in both
    languages for the same codes."""
    message = 'states must be tables of code = word per language: states.fr = { "5" = "…" }'
    if not isinstance(raw, dict) or not all(
        isinstance(words, dict) and all(isinstance(w, str) for w in words.values())
        for words in raw.values()
    ):
        raise fail("states", message)
    if raw and (set(raw) != {"fr", "en"} or set(raw["fr"]) != set(raw["en"])):
        raise fail("states", "states needs the same codes in French (fr) and English (en)")
    for code in (c for words in raw.values() for c in words):
        try:
            float(code)
        except ValueError:
            raise fail("states", f"state code {code!r} is not a number") from None
    return {language: dict(words) for language, words in raw.items()}


def _override(raw: dict[str, Any], path: Path, text: str, line: int, known: set[str]) -> Override:
    rule = raw.get("rule")
    if not isinstance(rule, str) or rule not in known:
        raise RuleError(path, _key_line(text, line, "rule"), f"override of unknown rule {rule!r}")
    changes: dict[str, object] = {}
    for key, value in raw.items():
        if key in ("rule", "site", "host", "enabled"):
            continue
        if key not in _OVERRIDABLE:
            raise RuleError(path, _key_line(text, line, key), f"{key!r} cannot be overridden")
        try:
            if key in _DURATIONS:
                changes["for_" if key == "for" else key] = parse_duration(value)
            elif key == "severity":
                if value not in SEVERITIES:
                    raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}")
                changes[key] = value
            elif key == "count":
                changes[key] = int(value)
            else:
                changes[key] = float(value)
        except (TypeError, ValueError) as err:
            raise RuleError(path, _key_line(text, line, key), f"{key}: {err}") from None
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise RuleError(path, _key_line(text, line, "enabled"), "enabled must be true or false")
    return Override(rule, raw.get("site"), raw.get("host"), enabled, changes, line)


def parse_rules(text: str, path: Path, known: Sequence[Rule] = ()) -> RuleSet:
    """Rules and overrides from one file's text; `known` are rules loaded before it."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        found = re.search(r"line (\d+)", str(err))
        raise RuleError(path, int(found.group(1)) if found else 1, str(err)) from None
    unknown = sorted(set(data) - {"rule", "override"})
    if unknown:
        raise RuleError(
            path, 1, f"unknown table {unknown[0]!r} (expected [[rule]] or [[override]])"
        )
    rule_lines, override_lines = _headers(text, "rule"), _headers(text, "override")
    errors: list[RuleError] = []
    rules = []
    for number, raw in enumerate(data.get("rule", [])):
        line = rule_lines[number] if number < len(rule_lines) else 1
        try:
            rules.append(_rule(raw, path, text, line))
        except RuleError as err:
            errors.append(err)
    names = [r.name for r in (*known, *rules)]
    errors += [
        RuleError(path, rule.line, f"rule {rule.name!r} is defined twice")
        for rule in rules
        if names.count(rule.name) > 1
    ]
    overrides = []
    for number, raw in enumerate(data.get("override", [])):
        line = override_lines[number] if number < len(override_lines) else 1
        try:
            overrides.append(_override(raw, path, text, line, set(names)))
        except RuleError as err:
            errors.append(err)
    if errors:
        raise RuleError.combined(sorted(errors, key=lambda e: e.line))
    return RuleSet(tuple(rules), tuple(overrides))


def load_rules(paths: Sequence[Path], defaults: bool = True) -> RuleSet:
    """The shipped defaults followed by each file in `paths`."""
    rules: list[Rule] = []
    overrides: list[Override] = []
    errors: list[RuleError] = []
    for path in ([DEFAULT_RULES] if defaults else []) + list(paths):
        try:
            text = path.read_text(encoding="utf-8")
            loaded = parse_rules(text, path, rules)
        except OSError as err:
            errors.append(RuleError(path, 0, f"cannot read: {err.strerror}"))
            continue
        except RuleError as err:
            errors.append(err)  # and go on: every file's mistakes in one run
            continue
        rules += loaded.rules
        overrides += loaded.overrides
    if errors:
        raise RuleError.combined(errors)
    return RuleSet(tuple(rules), tuple(overrides))


def effective(rule: Rule, overrides: Sequence[Override], site: str, host: str) -> Rule | None:
    """The rule as it applies to one host, None when an override disables it there."""
    matching = sorted(
        (o for o in overrides if o.rule == rule.name and o.applies(site, host)),
        key=lambda o: o.specificity,
    )
    enabled = True
    for override in matching:  # the most specific comes last and has the last word
        enabled = override.enabled
        rule = dataclasses.replace(rule, **override.changes)  # type: ignore[arg-type]
    return rule if enabled else None
