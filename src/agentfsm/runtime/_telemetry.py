"""OpenTelemetry spans and metrics of the runtime, through the ``opentelemetry-api`` package.

The library uses the API only (the ``otel`` extra); which SDK and exporters record the signals
is the application's choice. Without the API installed every call here is a no-op, and with
the API but no SDK the API's own no-op providers make it nearly free. The tracer and the
meter are the global ones, looked up by the API's proxies, so an application may set its
providers before or after importing agentfsm.

Signal names and attributes are listed in ``docs/telemetry.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SCOPE = "agentfsm.runtime"

try:  # pragma: no cover - which branch runs depends on what is installed
    from opentelemetry import metrics as _metrics
    from opentelemetry import trace as _trace
except ImportError:  # pragma: no cover
    _trace = None  # type: ignore[assignment]
    _metrics = None  # type: ignore[assignment]


class _NoSpan:
    def is_recording(self) -> bool:
        return False

    def set_attribute(self, key: str, value: Any) -> None:
        return None

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        return None

    def record_exception(self, exc: BaseException) -> None:
        return None

    def set_status(self, status: Any) -> None:
        return None

    def end(self) -> None:
        return None


class _NoInstrument:
    def add(self, amount: float, attributes: Mapping[str, Any] | None = None) -> None:
        return None

    def record(self, amount: float, attributes: Mapping[str, Any] | None = None) -> None:
        return None


_NO_SPAN = _NoSpan()
_NO_INSTRUMENT = _NoInstrument()


# The runtime's instruments: attribute, kind, name, unit, description.
_INSTRUMENTS = (
    ("transitions", "counter", "agentfsm.transitions", "{event}",
     "Accepted events, by machine, event and status"),
    ("refusals", "counter", "agentfsm.refusals", "{event}",
     "Refused events, by machine, event and refusal code"),
    ("conflicts", "counter", "agentfsm.version_conflicts", "{conflict}",
     "Compare-and-set conflicts, retried"),
    ("time_in_status", "histogram", "agentfsm.time_in_status", "s",
     "Time an agent spent in a status, on leaving it"),
    ("effects", "counter", "agentfsm.effects", "{effect}",
     "Outbox items performed, by effect and outcome"),
    ("timers_fired", "counter", "agentfsm.timers_fired", "{timer}",
     "Timers fired, by event and outcome"),
    ("timer_lateness", "histogram", "agentfsm.timer_lateness", "s",
     "How long after its due time a timer fired"),
    ("reconcile_duration", "histogram", "agentfsm.reconcile.duration", "s",
     "Reconcile passes, by outcome"),
)  # fmt: skip


class Telemetry:
    """The runtime's instruments, created once on the global (proxy) tracer and meter."""

    transitions: Any
    refusals: Any
    conflicts: Any
    time_in_status: Any
    effects: Any
    timers_fired: Any
    timer_lateness: Any
    reconcile_duration: Any

    def __init__(self) -> None:
        self.use()

    def use(self, tracer_provider: Any = None, meter_provider: Any = None) -> None:
        """Record through these providers instead of the global ones (``None``: the global
        ones). For tests, which cannot replace the global providers once they are set."""
        if _trace is None or _metrics is None:  # pragma: no cover - the API is missing
            self._tracer: Any = None
            for attribute, *_ in _INSTRUMENTS:
                setattr(self, attribute, _NO_INSTRUMENT)
            return
        self._tracer = _trace.get_tracer(SCOPE, tracer_provider=tracer_provider)
        meter = _metrics.get_meter(SCOPE, meter_provider=meter_provider)
        for attribute, kind, name, unit, description in _INSTRUMENTS:
            create = meter.create_counter if kind == "counter" else meter.create_histogram
            setattr(self, attribute, create(name, unit, description))

    def span(self, name: str, attributes: Mapping[str, Any], link: str | None = None) -> Any:
        """A started span (not made current: the runtime's steps cross awaits and threads),
        linked to the span whose ``traceparent`` is ``link``, if any."""
        if self._tracer is None:  # pragma: no cover
            return _NO_SPAN
        # The attributes go as they are: every caller builds them for this span alone, and a
        # recording span copies them into its own.
        links = [] if link is None else _links(link)
        return self._tracer.start_span(name, attributes=attributes, links=links)

    def context_of(self, span: Any) -> str | None:
        """``span``'s W3C ``traceparent``, to store beside what it wrote; ``None`` when the
        span is not recorded (no SDK, or not sampled)."""
        if _trace is None:  # pragma: no cover
            return None
        ctx = span.get_span_context() if hasattr(span, "get_span_context") else None
        if ctx is None or not ctx.is_valid:
            return None
        return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"

    def failed(self, span: Any, exc: BaseException) -> None:
        """Mark ``span`` as failed by ``exc``."""
        if _trace is None:  # pragma: no cover
            return
        span.record_exception(exc)
        span.set_status(_trace.Status(_trace.StatusCode.ERROR, type(exc).__name__))


def _links(traceparent: str | None) -> list[Any]:
    """The link to the span a stored ``traceparent`` names (none when it does not parse)."""
    if traceparent is None or _trace is None:
        return []
    parts = traceparent.split("-")
    try:
        if len(parts) != 4 or parts[0] != "00":
            return []
        trace_id, span_id, flags = int(parts[1], 16), int(parts[2], 16), int(parts[3], 16)
    except ValueError:
        return []
    ctx = _trace.SpanContext(trace_id, span_id, True, _trace.TraceFlags(flags))
    return [_trace.Link(ctx)] if ctx.is_valid else []


TELEMETRY = Telemetry()
"""The runtime's one set of instruments."""


def use_telemetry_providers(tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Record the runtime's spans and metrics through these providers, not the global ones.

    For an application that keeps its providers to itself, or a test (the global providers
    can be set only once per process). ``None`` for either goes back to the global one.

    Args:
        tracer_provider: an OpenTelemetry ``TracerProvider``, or ``None``.
        meter_provider: an OpenTelemetry ``MeterProvider``, or ``None``.
    """
    TELEMETRY.use(tracer_provider, meter_provider)
