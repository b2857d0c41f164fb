"""Collector health per device: last success, success rate, latency, consecutive failures.

Kept in memory by the pollers, written to ``device_health`` by the writer, and served as
Prometheus text by :func:`prometheus_text`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(slots=True)
class DeviceHealth:
    device_id: int
    code: str
    polls: int = 0
    successes: int = 0
    consecutive_failures: int = 0
    last_success: datetime | None = None
    last_attempt: datetime | None = None
    last_latency_s: float | None = None  # [s] request to response
    latency_sum_s: float = 0.0  # [s] over successes
    last_error: str | None = None  # French, for operators: the real cause of the last failure
    last_error_kind: str | None = None  # timeout, reset, refused, exception, wrong_transaction_id... (telemetry.link)
    last_failure: datetime | None = None

    def record_success(self, when: datetime, latency_s: float) -> None:
        self.polls += 1
        self.successes += 1
        self.consecutive_failures = 0
        self.last_success = self.last_attempt = when
        self.last_latency_s = latency_s
        self.latency_sum_s += latency_s

    def record_failure(self, when: datetime, kind: str, error: str) -> None:
        self.polls += 1
        self.consecutive_failures += 1
        self.last_attempt = self.last_failure = when
        self.last_error_kind = kind
        self.last_error = error[:500]

    @property
    def success_rate(self) -> float:
        return self.successes / self.polls if self.polls else 0.0


@dataclass
class CollectorStats:
    """Counters of the whole collector, for the metrics endpoint and the benchmark."""

    devices: dict[int, DeviceHealth] = field(default_factory=dict)
    readings_emitted: int = 0
    samples_emitted: int = 0
    rows_committed: int = 0
    samples_committed: int = 0
    batches_buffered: int = 0
    buffer_dropped_samples: int = 0
    db_write_failures: int = 0
    requests_sent: dict[int, int] = field(default_factory=dict)  # function code -> frames written to a socket
    retried_ok: int = 0  # readings obtained by a retry after a failed attempt
    database_up: bool = True  # the last database write succeeded (or none was tried yet)
    oldest_pending_age_s: float = 0.0  # [s] age of the oldest reading waiting in the buffer

    def count_frame(self, function: int) -> None:
        """One request frame of ``function`` written to a socket."""
        self.requests_sent[function] = self.requests_sent.get(function, 0) + 1

    def health(self, device_id: int, code: str) -> DeviceHealth:
        h = self.devices.get(device_id)
        if h is None:
            h = self.devices[device_id] = DeviceHealth(device_id, code)
        return h


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def prometheus_text(stats: CollectorStats, pending_batches: int, latencies: list[float] | None = None) -> str:
    """Prometheus exposition format (text 0.0.4) of the collector's state.

    Args:
        latencies: response-to-commit latencies [s] observed so far, summarised as quantiles.
    """
    lines = [
        "# HELP regie_collector_samples_emitted_total Values decoded from device responses.",
        "# TYPE regie_collector_samples_emitted_total counter",
        f"regie_collector_samples_emitted_total {stats.samples_emitted}",
        "# HELP regie_collector_samples_committed_total Values committed to the database.",
        "# TYPE regie_collector_samples_committed_total counter",
        f"regie_collector_samples_committed_total {stats.samples_committed}",
        "# HELP regie_collector_buffer_pending_batches Batches in the store-and-forward buffer.",
        "# TYPE regie_collector_buffer_pending_batches gauge",
        f"regie_collector_buffer_pending_batches {pending_batches}",
        "# HELP regie_collector_buffer_dropped_samples_total Values dropped because the buffer was full.",
        "# TYPE regie_collector_buffer_dropped_samples_total counter",
        f"regie_collector_buffer_dropped_samples_total {stats.buffer_dropped_samples}",
        "# HELP regie_collector_db_write_failures_total Failed database writes (batches kept in the buffer).",
        "# TYPE regie_collector_db_write_failures_total counter",
        f"regie_collector_db_write_failures_total {stats.db_write_failures}",
        "# HELP regie_collector_buffer_oldest_age_seconds Age of the oldest reading waiting in the buffer.",
        "# TYPE regie_collector_buffer_oldest_age_seconds gauge",
        f"regie_collector_buffer_oldest_age_seconds {stats.oldest_pending_age_s:.1f}",
        "# HELP regie_collector_database_up 1 when the last database write succeeded, 0 during an outage.",
        "# TYPE regie_collector_database_up gauge",
        f"regie_collector_database_up {int(stats.database_up)}",
        "# HELP regie_collector_retried_ok_total Readings obtained by a retry after a failed attempt.",
        "# TYPE regie_collector_retried_ok_total counter",
        f"regie_collector_retried_ok_total {stats.retried_ok}",
        "# HELP regie_collector_requests_total Modbus request frames written to a socket, by function code.",
        "# TYPE regie_collector_requests_total counter",
    ]
    lines += [f'regie_collector_requests_total{{function="{fc}"}} {n}' for fc, n in sorted(stats.requests_sent.items())]
    if latencies:
        ordered = sorted(latencies)
        lines += ["# HELP regie_collector_response_to_commit_seconds From a device's response to its commit.",
                  "# TYPE regie_collector_response_to_commit_seconds summary"]
        lines += [f'regie_collector_response_to_commit_seconds{{quantile="{q}"}} '
                  f"{ordered[min(len(ordered) - 1, int(q * len(ordered)))]}" for q in (0.5, 0.9, 0.99)]
        lines.append(f"regie_collector_response_to_commit_seconds_count {len(ordered)}")
    per_device: list[tuple[str, str, str, Callable[[DeviceHealth], object]]] = [
        ("regie_device_polls_total", "counter", "Polls attempted.", lambda h: h.polls),
        ("regie_device_successes_total", "counter", "Polls answered.", lambda h: h.successes),
        ("regie_device_consecutive_failures", "gauge", "Failures since the last success.",
         lambda h: h.consecutive_failures),
        ("regie_device_last_latency_seconds", "gauge", "Latency of the last answered poll.",
         lambda h: h.last_latency_s if h.last_latency_s is not None else "NaN"),
        ("regie_device_last_success_timestamp_seconds", "gauge", "Time of the last answered poll.",
         lambda h: h.last_success.timestamp() if h.last_success else 0),
    ]
    for name, kind, text, getter in per_device:
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        lines += [f'{name}{{device="{_label(h.code)}"}} {getter(h)}' for h in stats.devices.values()]
    return "\n".join(lines) + "\n"
