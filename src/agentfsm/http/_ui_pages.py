"""The dashboard's HTML: the fleet, one agent, signing in. Plain strings, every value escaped.

Each page is a frame around a ``<main id="live">`` part; the script re-reads that part
(``?part=live``) when the event stream says something changed, so the server renders a page
one way whether it is loaded or refreshed live.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import quote

from agentfsm._machine import Machine
from agentfsm._spec import EventSpec
from agentfsm._values import Actor
from agentfsm.runtime._records import AgentRecord, AuditRow

TIMELINE_ROWS = 100
"""The agent page shows this many of the latest audit rows, newest first."""

# A status's colour comes from words in its name or CRD phase, so a machine of one's own gets
# sensible colours too; a status no word matches is drawn as busy (on its way somewhere).
_TONES = (
    ("bad", ("fail", "error", "crash", "lost")),
    ("warn", ("suspend", "waitlist", "degraded", "throttl")),
    ("off", ("stopped", "terminat", "deleted", "removed", "archived")),
    ("ok", ("running", "active", "ready", "healthy", "online")),
)


def tone(status: str, phase: str | None = None) -> str:
    """The colour class of a status: ``ok``, ``bad``, ``warn``, ``off`` or ``busy``."""
    words = f"{status} {phase or ''}".lower()
    for name, marks in _TONES:
        if any(mark in words for mark in marks):
            return name
    return "busy"


def elapsed(since: datetime, now: datetime) -> str:
    """How long ago ``since`` was, in the largest whole unit (``42 s``, ``3 min``, ``2 h``)."""
    seconds = max(0, int((now - since).total_seconds()))
    for size, unit in ((86_400, "d"), (3_600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def agent_url(base: str, agent_id: str) -> str:
    """The agent page's path (the id quoted, so any id makes one path segment)."""
    return f"{base}/agents/{quote(agent_id, safe='')}"


def frame(
    base: str, title: str, live: str, *, who: str | None, stream: str | None, now: datetime
) -> str:
    """A whole page around its live part."""
    signed = (
        f'<span class="who">{_e(who)}</span>'
        f'<form method="post" action="{_e(base)}/sign-out"><button type="submit">Sign out'
        "</button></form>"
        if who is not None
        else ""
    )
    stream_attr = f' data-stream="{_e(stream)}"' if stream else ""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)} · agentfsm</title>"
        f'<link rel="stylesheet" href="{_e(base)}/assets/dashboard.css">'
        f'<script src="{_e(base)}/assets/dashboard.js" defer></script></head>'
        f'<body data-now="{_e(now.isoformat())}"{stream_attr}>'
        f'<header><a class="home" href="{_e(base)}/">agentfsm fleet</a>'
        f'<span class="live-state" id="live-state" aria-live="polite"></span>{signed}</header>'
        f'<main id="live">{live}</main></body></html>\n'
    )


def _badge(status: str, phase: str | None) -> str:
    colour = tone(status, phase)
    return f'<span class="status tone-{colour}" data-status="{_e(status)}">{_e(status)}</span>'


def _since(since: datetime | None, now: datetime) -> str:
    if since is None:  # a machine without a clock keeps no time
        return '<span class="untimed">not timed</span>'
    return f'<time class="since" datetime="{_e(since.isoformat())}">{elapsed(since, now)}</time>'


def fleet(
    base: str,
    items: Sequence[Mapping[str, Any]],
    statuses: Mapping[str, Sequence[str]],
    chosen: str | None,
    now: datetime,
) -> str:
    """The fleet's live part: a status filter (``statuses``: each machine's) and a row per
    agent."""
    options = ['<option value="">every status</option>']
    for machine, names in statuses.items():
        options.append(f'<optgroup label="{_e(machine)}">')
        options.extend(
            f'<option value="{_e(s)}"{" selected" if s == chosen else ""}>{_e(s)}</option>'
            for s in names
        )
        options.append("</optgroup>")
    rows = [
        f'<tr data-agent="{_e(a["agent_id"])}">'
        f'<td><a href="{_e(agent_url(base, a["agent_id"]))}">{_e(a["agent_id"])}</a></td>'
        f"<td>{_badge(a['status'], a['phase'])}</td>"
        f"<td>{_since(a['since'], now)}</td>"
        f'<td class="num">{a["version"]}</td><td>{_e(a["machine"])}</td></tr>'
        for a in items
    ]
    count = f"{len(items)} agent{'' if len(items) == 1 else 's'}"
    if chosen:
        count += f" in {_e(chosen)}"
    body = "".join(rows) or '<tr><td colspan="5" class="empty">No agents.</td></tr>'
    return (
        "<h1>Fleet</h1>"
        f'<form class="filter" method="get" action="{_e(base)}/">'
        '<label>Status <select name="status" id="status-filter">'
        f"{''.join(options)}</select></label>"
        '<button type="submit" class="apply">Filter</button></form>'
        f'<p class="count" id="count">{count}</p>'
        '<table class="fleet"><thead><tr><th>Agent</th><th>Status</th><th>In status for</th>'
        f'<th class="num">Version</th><th>Model</th></tr></thead><tbody>{body}</tbody></table>'
    )


def agent(
    base: str,
    machine: Machine,
    record: AgentRecord,
    view: Mapping[str, Any],
    rows: Sequence[AuditRow],
    diagram: bytes | None,
    now: datetime,
    message: tuple[str, str] | None = None,
) -> str:
    """One agent's live part: its facts, its controls, its history and its machine's diagram."""
    snap = record.snapshot
    facts = [
        ("Model", f"{_e(record.machine)} (machine version {record.machine_version})"),
        ("In status for", _since(snap.since, now)),
        ("Version", str(snap.version)),
    ]
    if view.get("phase"):
        facts.append(("Phase", _e(view["phase"])))
    shown = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    note = ""
    if message is not None:
        note = f'<p class="message {_e(message[0])}" role="alert">{_e(message[1])}</p>'
    return (
        f'<p class="crumbs"><a href="{_e(base)}/">Fleet</a> / {_e(record.agent_id)}</p>'
        f'<h1 data-agent="{_e(record.agent_id)}">{_e(record.agent_id)} '
        f"{_badge(snap.status, view.get('phase'))}</h1>"
        f'<dl class="facts">{shown}</dl>'
        '<section class="controls"><h2>Controls</h2>'
        f'<div id="message">{note}</div>'
        f"{_controls(base, machine, record, view['offered'])}</section>"
        f"{_timeline(rows)}{_diagram(diagram, snap.status)}"
    )


def expected_confirmation(record: AgentRecord) -> str:
    """What a ``confirmation`` field must hold: the agent's name (its data's ``name``), or,
    for a record without one, its id."""
    name = getattr(record.snapshot.data, "name", None)
    return name if isinstance(name, str) else record.agent_id


def _controls(
    base: str, machine: Machine, record: AgentRecord, offers: Sequence[Mapping[str, Any]]
) -> str:
    if not offers:
        return '<p class="empty">No action is offered to you in this status.</p>'
    items = []
    for offer in offers:
        name = str(offer["event"])
        spec = machine.spec.event(name)
        action = f"{agent_url(base, record.agent_id)}/actions/{quote(name, safe='')}"
        refusal = offer.get("refusal")
        if offer["offered"]:
            inputs = _inputs(spec, record)
            needs = "".join(f'<p class="needs">{_e(r)}</p>' for r in offer.get("requirements", ()))
            disabled = " disabled" if "data-confirm" in inputs else ""
            why = ""
        else:
            inputs, needs, disabled = "", "", " disabled"
            why = (
                f'<p class="refusal" data-code="{_e(refusal["code"])}">{_e(refusal["message"])}</p>'
                if refusal
                else ""
            )
        state = "offered" if offer["offered"] else "refused"
        items.append(
            f'<li class="action {state}" data-event="{_e(name)}">'
            f'<form class="act" method="post" action="{_e(action)}" data-event="{_e(name)}">'
            f'{inputs}<button type="submit" name="do" value="{_e(name)}"{disabled}>'
            f"{_e(offer['label'])}</button></form>{needs}{why}</li>"
        )
    return f'<ul class="actions">{"".join(items)}</ul>'


def _inputs(spec: EventSpec, record: AgentRecord) -> str:
    parts = []
    for f in spec.fields:
        label = _e(f.description or f.name)
        if f.name == "confirmation" and f.kind == "str":
            expected = expected_confirmation(record)
            parts.append(
                f"<label>Type <b>{_e(expected)}</b> to confirm "
                f'<input name="confirmation" autocomplete="off" spellcheck="false" '
                f'data-confirm="{_e(expected)}" required></label>'
            )
        elif f.kind == "bool":
            parts.append(f'<label><input type="checkbox" name="{_e(f.name)}"> {label}</label>')
        else:
            kind = {"int": "number", "datetime": "datetime-local"}.get(f.kind, "text")
            need = " required" if f.required else ""
            parts.append(
                f'<label>{label} <input type="{kind}" name="{_e(f.name)}" '
                f'data-kind="{_e(f.kind)}"{need}></label>'
            )
    return "".join(parts)


def _timeline(rows: Sequence[AuditRow]) -> str:
    latest = list(reversed(rows[-TIMELINE_ROWS:]))
    items = []
    for row in latest:
        move = (
            f"{_e(row.from_status)} → {_e(row.to_status)}"
            if row.from_status is not None
            else f"created in {_e(row.to_status)}"
        )
        who = _e(_ACTOR_WORDS.get(row.actor or "", row.actor or "the runtime"))
        if row.principal:
            who += f" ({_e(row.principal)})"
        refused = ""
        if row.refusal is not None:
            refused = f'<span class="refusal">refused: {_e(row.refusal.message)}</span>'
        items.append(
            f'<li class="{"refused" if row.refusal else "accepted"}" data-seq="{row.seq}">'
            f'<time datetime="{_e(row.at.isoformat())}">{_e(row.at.strftime("%Y-%m-%d %H:%M:%S"))}'
            f'</time> <span class="event">{_e(row.event)}</span> <span class="move">{move}</span>'
            f' <span class="actor">by {who}</span> {refused}</li>'
        )
    earlier = len(rows) - len(latest)
    more = f'<p class="more">{earlier} earlier rows not shown.</p>' if earlier > 0 else ""
    return (
        '<section class="history"><h2>History</h2>'
        f'<ol class="timeline">{"".join(items)}</ol>{more}</section>'
    )


_ACTOR_WORDS = {a.code: a.label for a in Actor}

_PROLOG = re.compile(r"\A.*?(?=<svg\b)", re.DOTALL)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


_SIZE = re.compile(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"')
_FONT_SIZE = re.compile(r'font-size="([\d.]+)"')
_SMALLEST_TEXT_PX = 12.0
_PX_PER_PT = 4 / 3


def _legible(svg: str) -> str:
    """Size the picture so its smallest label is 12 px tall (at most its natural size): a
    picture wider than the page then scrolls sideways rather than shrinking unreadably. Done
    with the width and height attributes, since the page allows no inline style."""
    size = _SIZE.search(svg)
    fonts = [float(f) for f in _FONT_SIZE.findall(svg)]
    if size is None or not fonts:
        return svg
    scale = min(1.0, _SMALLEST_TEXT_PX / (min(fonts) * _PX_PER_PT))
    width, height = (float(v) * _PX_PER_PT * scale for v in size.groups())
    return svg.replace(size.group(0), f'<svg width="{width:.0f}" height="{height:.0f}"', 1)


def _diagram(drawn: bytes | None, status: str) -> str:
    if drawn is None:
        return (
            '<section class="machine"><h2>Machine</h2><p class="empty">No diagram: Graphviz '
            "(<code>dot</code>) is not installed on the server.</p></section>"
        )
    svg = _legible(_COMMENT.sub("", _PROLOG.sub("", drawn.decode("utf-8", "replace"))))
    # Graphviz writes each status as <g class="node"><title>name</title>…: mark the current one.
    title = f"<title>{escape(status, quote=False)}</title>"
    svg = svg.replace(f'class="node">\n{title}', f'class="node current">\n{title}', 1)
    return (
        '<section class="machine"><h2>Machine</h2>'
        f'<div class="diagram" data-current="{_e(status)}">{svg}</div></section>'
    )


def sign_in(base: str, back: str | None, problem: str | None) -> str:
    """The sign-in form's live part: a token, kept by the browser in a cookie; ``back`` is
    the page to return to."""
    note = f'<p class="message bad" role="alert">{_e(problem)}</p>' if problem else ""
    hidden = f'<input type="hidden" name="next" value="{_e(back)}">' if back else ""
    return (
        "<h1>Sign in</h1>"
        f"{note}"
        f'<form class="sign-in" method="post" action="{_e(base)}/sign-in">{hidden}'
        '<label>Token <input type="password" name="token" autocomplete="current-password" '
        'required></label><button type="submit">Sign in</button></form>'
        '<p class="hint">The same bearer token the API takes; the browser keeps it in a '
        "cookie for this dashboard only.</p>"
    )


def not_found(base: str, detail: str) -> str:
    """The live part of a page for an agent or path that is not there (or not the caller's)."""
    return (
        f'<h1>Not found</h1><p class="message bad">{_e(detail)}</p>'
        f'<p><a href="{_e(base)}/">The fleet</a></p>'
    )
