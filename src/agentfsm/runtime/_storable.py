"""What every store can hold: text that has a UTF-8 form, checked before a write.

Both stores keep text as UTF-8. A lone surrogate (``"\\udcff"``, which ``json.loads`` makes
from the JSON text ``"\\\\udcff"``) has none. Left to the database driver, such a string fails
half-way through a statement with a ``UnicodeEncodeError``; checked here, it is a
``CodecError`` before any statement runs, on either store. The same check covers the JSON the
codec writes (``Codec.dumps``) and every text column of a ``Write`` (``check_writes``); a
lookup by a key that fails it finds nothing, since nothing can be stored under it
(``storable_key``). (PostgreSQL also refuses U+0000, which SQLite keeps; ``PostgresStore``
reports that as a ``CodecError`` too.)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from agentfsm._errors import InvalidInput
from agentfsm._words import quote
from agentfsm.runtime._errors import CodecError
from agentfsm.runtime._records import Write


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored, or ``None`` when it can."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            return (
                f"holds the lone surrogate {text[exc.start]!r} at position {exc.start}, "
                "which has no UTF-8 form"
            )
    return None


def storable_key(value: object) -> bool:
    """Whether a row could be stored under ``value`` (a string that passes ``text_problem``)."""
    return isinstance(value, str) and text_problem(value) is None


def wanted_ids(agent_ids: Iterable[str]) -> list[str]:
    """The distinct ids of ``agent_ids`` a row could be stored under, in order, as plain strings
    (the others name nothing, and need not even be hashable).

    Raises:
        InvalidInput: ``agent_ids`` is a single string, or not iterable.
    """
    if isinstance(agent_ids, str | bytes):
        raise InvalidInput(f"give the agent ids as a list, not the one string {quote(agent_ids)}")
    try:
        items = list(agent_ids)
    except TypeError as exc:
        raise InvalidInput(
            f"agent ids must be an iterable of strings, not {quote(agent_ids)}"
        ) from exc
    # str.__str__ copies a str subclass into a plain str, whose equality and hash are a str's.
    return list(dict.fromkeys(str.__str__(a) for a in items if storable_key(a)))


def check_writes(writes: Sequence[Write]) -> None:
    """Refuse a batch any of whose text columns could not be stored.

    Raises:
        CodecError: a text field is not a string, or cannot be stored; the message names the
            field and the event id.
    """
    for w in writes:
        # The usual case in one pass: the write's text joined (join raises for a non-string),
        # then one ASCII scan. Only a write that fails it is looked at field by field.
        try:
            joined = "".join(
                (
                    w.agent_id, w.event_id, w.kind, w.event, w.snapshot.status,
                    w.actor or "", w.from_status or "", w.correlation_id or "",
                    w.consume_timer or "", w.machine or "", w.principal or "",
                    w.trace_context or "",
                )
            )  # fmt: skip
            ref = w.refusal
            if ref is not None or w.outbox or w.timers or w.cancels:
                extra: list[str] = []
                if ref is not None:
                    extra += (ref.code, ref.message, ref.guard or "")
                for o in w.outbox:
                    extra += (o.kind, o.key)
                for t in w.timers:
                    extra += (t.event, t.token)
                extra += w.cancels
                joined += "".join(extra)
        except TypeError:
            joined = None
        if joined is not None and joined.isascii():
            continue
        for name, text in (*_texts(w), *_extra_texts(w)):
            if text is None:
                continue
            if not isinstance(text, str):
                raise CodecError(
                    f"the {name} of event {quote(w.event_id)} must be a string, not "
                    f"{type(text).__name__}: {quote(text)}"
                )
            problem = text_problem(text)
            if problem is not None:
                raise CodecError(
                    f"cannot store the {name} {quote(text)} of event {quote(w.event_id)}: "
                    f"it {problem}"
                )


def _texts(w: Write) -> tuple[tuple[str, Any], ...]:
    # Optional columns give None; the required ones are checked to be strings by the caller.
    return (
        ("agent id", w.agent_id), ("event id", w.event_id), ("kind", w.kind),
        ("event name", w.event), ("status", w.snapshot.status), ("actor", w.actor),
        ("status before", w.from_status), ("correlation id", w.correlation_id),
        ("timer token", w.consume_timer), ("machine", w.machine), ("principal", w.principal),
        ("trace context", w.trace_context),
    )  # fmt: skip


def _extra_texts(w: Write) -> Iterator[tuple[str, Any]]:
    ref = w.refusal
    if ref is not None:
        yield "refusal code", ref.code
        yield "refusal message", ref.message
        yield "refusal guard", ref.guard
    for o in w.outbox:
        yield "outbox kind", o.kind
        yield "outbox key", o.key
    for t in w.timers:
        yield "timer event", t.event
        yield "timer token", t.token
    for event in w.cancels:
        yield "cancelled timer", event


def check_deliveries(deliveries: Sequence[Any], codec: Any) -> None:
    """Refuse a batch of deliveries (``Controller.handle_many``) if any of them cannot be stored.

    Handled one at a time, the deliveries before an unstorable one would be written; checked
    first, the batch is refused whole and nothing is written.

    Raises:
        CodecError: a delivery's event name, id, correlation id or timer token cannot be
            stored, or (when ``codec`` is given) its payload.
    """
    for d in deliveries:
        event = d.event
        texts = (
            ("event name", event.name), ("event id", event.id),
            ("correlation id", d.correlation_id), ("timer token", d.timer_token),
        )  # fmt: skip
        for name, text in texts:
            if text is None:
                continue
            problem = "is not a string" if not isinstance(text, str) else text_problem(text)
            if problem is not None:
                raise CodecError(
                    f"cannot store the {name} {quote(text)} of a delivery: it {problem}"
                )
        if codec is not None:
            codec.dumps(event.payload)
