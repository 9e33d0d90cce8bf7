"""The runtime's metrics on a Prometheus ``/metrics`` page.

The OpenTelemetry SDK records what the runtime reports. A small HTTP handler renders the
readings in Prometheus' text format. (In production, use the ``opentelemetry-exporter-prometheus``
reader instead, which serves the same page.) The script handles a few events, serves the page on
a free local port, fetches it once and prints it. Run it with
``python examples/prometheus_metrics.py``.
"""

from __future__ import annotations

import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    InMemoryMetricReader,
    NumberDataPoint,
)

from agentfsm import Actor, Event
from agentfsm.models import ALFE, AlfeAgent
from agentfsm.runtime import Controller, SQLiteStore, StoreGauges, use_telemetry_providers

READER = InMemoryMetricReader()
PROVIDER = MeterProvider(metric_readers=[READER])


def _labels(attributes: Any, extra: str = "") -> str:
    pairs = [f'{k.replace(".", "_")}="{v}"' for k, v in sorted(dict(attributes).items())]
    if extra:
        pairs.append(extra)
    return "{" + ",".join(pairs) + "}" if pairs else ""


def render() -> str:
    """Every metric the reader holds, in Prometheus' text exposition format."""
    lines: list[str] = []
    data = READER.get_metrics_data()
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                name = metric.name.replace(".", "_")
                lines.append(f"# HELP {name} {metric.description}")
                for p in metric.data.data_points:
                    if isinstance(p, HistogramDataPoint):
                        lines.append(f"{name}_count{_labels(p.attributes)} {p.count}")
                        lines.append(f"{name}_sum{_labels(p.attributes)} {p.sum}")
                        total = 0
                        for bound, n in zip(p.explicit_bounds, p.bucket_counts, strict=False):
                            total += n
                            le = f'le="{bound}"'
                            lines.append(f"{name}_bucket{_labels(p.attributes, le)} {total}")
                        inf = 'le="+Inf"'
                        lines.append(f"{name}_bucket{_labels(p.attributes, inf)} {p.count}")
                    elif isinstance(p, NumberDataPoint):
                        lines.append(f"{name}{_labels(p.attributes)} {p.value}")
    return "\n".join(lines) + "\n"


class MetricsPage(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = render().encode()
        self.send_response(200 if self.path == "/metrics" else 404)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:  # quiet
        return None


def main() -> str:
    use_telemetry_providers(meter_provider=PROVIDER)  # or make PROVIDER the global one
    store = SQLiteStore(":memory:")
    controller = Controller(ALFE, store)
    StoreGauges(store, meter_provider=PROVIDER)
    controller.create("ag_1", "alfe", AlfeAgent("ag_1", "support-agent"))
    controller.handle("ag_1", Event("provision", Actor.SYSTEM))
    controller.handle("ag_1", Event("stop", Actor.USER))  # refused while provisioning
    server = ThreadingHTTPServer(("127.0.0.1", 0), MetricsPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            page: str = response.read().decode()
    finally:
        server.shutdown()
        store.close()
        use_telemetry_providers()
    print(page)
    return page


if __name__ == "__main__":
    page = main()
    assert 'agentfsm_transitions{agentfsm_event="provision"' in page
    assert 'agentfsm_refusal_code="not_allowed_from_status"' in page
    assert 'agentfsm_agents{agentfsm_machine="alfe",agentfsm_status="provisioning"} 1' in page
