"""The HTML part of a mail, rendered from its text part (collector.notify.compose writes one
layout: "• [SEVERITY] summary" items, their details indented below, section titles ending
with a colon, links): both parts always say the same, and a held summary of many mails
renders as well as one. Inline styles only: mail clients ignore style sheets."""

from __future__ import annotations

import html
import re

_COLOURS = {"CRITIQUE": "#d1242f", "CRITICAL": "#d1242f", "AVERTISSEMENT": "#9a6700",
            "WARNING": "#9a6700", "INFO": "#57606a"}  # fmt: skip
_ITEM = re.compile(r"^\s*• (?:\[(?P<severity>[^\]]+)\] )?(?P<text>.*)$")
_LINK = re.compile(r"(https?://[^\s<>\"]+)")
_ACTION = re.compile(r"^(À faire|What to do) :?")


def _inline(text: str) -> str:
    """Escaped text with its links made clickable."""
    parts = _LINK.split(text)
    return "".join(
        f'<a href="{html.escape(p)}">{html.escape(p)}</a>' if i % 2 else html.escape(p)
        for i, p in enumerate(parts)
    )


def _badge(severity: str) -> str:
    colour = _COLOURS.get(severity, "#57606a")
    return (f'<span style="background:{colour};color:#fff;border-radius:3px;'
            f'padding:0 4px;font-size:12px">{html.escape(severity)}</span> ')  # fmt: skip


def _detail(line: str) -> str:
    text = line.strip()
    if _ACTION.match(text):
        return f'<div style="margin-top:2px"><b>{_inline(text)}</b></div>'
    return f'<div style="color:#57606a;font-size:13px">{_inline(text)}</div>'


def html_body(text: str) -> str:
    """The text part as an HTML document."""
    out: list[str] = []
    in_list = False
    for line in text.splitlines():
        item = _ITEM.match(line)
        if item:
            if not in_list:
                out.append('<ul style="padding-left:18px">')
                in_list = True
            badge = _badge(item["severity"]) if item["severity"] else ""
            out.append(f'<li style="margin:6px 0">{badge}{_inline(item["text"])}')
        elif line.startswith("  ") and in_list and line.strip():
            out.append(_detail(line))
        else:
            if in_list:
                out.append("</ul>")
                in_list = False
            if not line.strip():
                continue
            if line.rstrip().endswith(":") and len(line) < 80:
                out.append(f'<h3 style="margin:14px 0 4px;font-size:15px">{_inline(line)}</h3>')
            else:
                out.append(f'<p style="margin:6px 0">{_inline(line)}</p>')
    if in_list:
        out.append("</ul>")
    body = "\n".join(out)
    return ('<!doctype html><html><body style="font-family:Arial,sans-serif;font-size:14px;'
            f'color:#1f2328">\n{body}\n</body></html>\n')  # fmt: skip
