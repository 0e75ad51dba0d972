"""Prometheus metrics, right for a whole instance although gunicorn runs several processes.

Counters and histograms use prometheus_client's multiprocess mode when gunicorn.conf.py has
set PROMETHEUS_MULTIPROC_DIR (a fresh folder each start): each process writes its samples to
files there (each request's counts gathered in memory and written every FLUSH_SECONDS), and
``GET /metrics``, whichever process answers it, adds them all up. Gauges of
shared state (breakers, stored images, jobs) are read from that state when scraped, so every
process tells the same. Labels take only fixed values (route templates, provider names, error
codes), never an image name or a raw path.

With ARTPROXY_METRICS=false, NullMetrics does nothing at all.
"""

from __future__ import annotations

import bisect
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from background import Repeating

if TYPE_CHECKING:
    from jobs import JobQueue
    from service import ImageService

log = logging.getLogger("artproxy")

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# A request waits on the upstream for seconds; serving a stored image takes a millisecond.
REQUEST_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
UPSTREAM_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120)
# How late another process's counts may reach a scrape; Prometheus scrapes every 15 s or so.
FLUSH_SECONDS = 0.5


# Reads shared state at each scrape and yields metric families (prometheus_client's core types).
StateReader = Callable[[], Iterable[Any]]


class Metrics(Protocol):
    enabled: bool  # False: nothing is counted, and /metrics answers 404

    def http_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """One answer of ``route`` (its template), ready after ``seconds``."""
        ...

    def upstream_call(self, provider: str, outcome: str, seconds: float | None) -> None:
        """One call to ``provider``: ``ok`` or the error code; no duration if it was skipped."""
        ...

    def bytes_served(self, count: int) -> None:
        """``count`` bytes of stored images sent."""
        ...

    def watch(self, read_state: StateReader) -> None:
        """Add gauges that ``read_state`` reads from shared state at each scrape."""
        ...

    def exposition(self) -> tuple[bytes, str]:
        """The whole instance's metrics in Prometheus' text format, and its content type."""
        ...


class NullMetrics(Metrics):
    enabled = False

    def http_request(self, route: str, method: str, status: int, seconds: float) -> None:
        pass

    def upstream_call(self, provider: str, outcome: str, seconds: float | None) -> None:
        pass

    def bytes_served(self, count: int) -> None:
        pass

    def watch(self, read_state: StateReader) -> None:
        pass

    def exposition(self) -> tuple[bytes, str]:
        raise LookupError("metrics are off (ARTPROXY_METRICS=false)")


class PrometheusMetrics(Metrics):
    enabled = True

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("artproxy_http_requests", "HTTP requests answered",
                                ["route", "method", "status"], registry=self.registry)
        self.request_seconds = Histogram(
            "artproxy_http_request_duration_seconds",
            "Seconds until an answer is ready to send (its body's transfer not included)",
            ["route"], buckets=REQUEST_BUCKETS, registry=self.registry)
        self.upstream_calls = Counter("artproxy_upstream_requests",
                                      "Calls to each provider, by outcome (ok or the error code)",
                                      ["provider", "outcome"], registry=self.registry)
        self.upstream_seconds = Histogram("artproxy_upstream_duration_seconds",
                                          "Seconds each provider took to answer",
                                          ["provider"], buckets=UPSTREAM_BUCKETS,
                                          registry=self.registry)
        self.image_bytes = Counter("artproxy_image_bytes_served",
                                   "Bytes of stored images sent to clients", registry=self.registry)
        self._state_readers: list[StateReader] = []
        self._request_bounds = [*REQUEST_BUCKETS, float("inf")]
        self._lock = threading.Lock()
        self._pending_requests: dict[tuple[str, str, int], int] = {}
        # route -> (count in each bucket, sum of seconds)
        self._pending_durations: dict[str, _Durations] = {}
        self._pending_bytes = 0
        # The counts wait for the next flush when one fails.
        self._flusher = Repeating(self.flush, FLUSH_SECONDS, "artproxy-metrics",
                                  lambda error: log.warning("metrics: flush failed: %s", error))

    def http_request(self, route: str, method: str, status: int, seconds: float) -> None:
        # Counted in plain dicts here and written to the shared files by flush(): writing each
        # request's three values as it came cost 10 of the 110 microseconds a stored image takes.
        bucket = bisect.bisect_left(self._request_bounds, seconds)  # as Histogram.observe picks
        with self._lock:
            key = (route, method, status)
            self._pending_requests[key] = self._pending_requests.get(key, 0) + 1
            durations = self._pending_durations.get(route)
            if durations is None:
                durations = self._pending_durations[route] = _Durations(len(self._request_bounds))
            durations.counts[bucket] += 1
            durations.total += seconds
        self._flusher.ensure_running()

    def upstream_call(self, provider: str, outcome: str, seconds: float | None) -> None:
        self.upstream_calls.labels(provider, outcome).inc()
        if seconds is not None:
            self.upstream_seconds.labels(provider).observe(seconds)

    def bytes_served(self, count: int) -> None:
        with self._lock:
            self._pending_bytes += count
        self._flusher.ensure_running()

    def flush(self) -> None:
        """Write what this process counted since the last flush to the metrics."""
        with self._lock:
            requests, self._pending_requests = self._pending_requests, {}
            durations, self._pending_durations = self._pending_durations, {}
            sent, self._pending_bytes = self._pending_bytes, 0
        for (route, method, status), count in requests.items():
            self.requests.labels(route, method, str(status)).inc(count)
        for route, pending in durations.items():
            histogram = self.request_seconds.labels(route)
            # Histogram.observe() one value at a time, in bulk: prometheus_client keeps each
            # bucket's own count (_buckets, not yet cumulative) and the sum (_sum).
            histogram._sum.inc(pending.total)
            for index, count in enumerate(pending.counts):
                if count:
                    histogram._buckets[index].inc(count)
        if sent:
            self.image_bytes.inc(sent)

    def watch(self, read_state: StateReader) -> None:
        self._state_readers.append(read_state)

    def exposition(self) -> tuple[bytes, str]:
        from prometheus_client import (
            CONTENT_TYPE_LATEST,
            CollectorRegistry,
            generate_latest,
        )
        from prometheus_client.multiprocess import MultiProcessCollector

        self.flush()  # this process's own counts; the others' are at most FLUSH_SECONDS old
        if os.environ.get(MULTIPROCESS_VARIABLE):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
        else:
            registry = self.registry
        text = generate_latest(registry)
        state = CollectorRegistry()
        state.register(StateCollector(self._state_readers))
        return text + generate_latest(state), CONTENT_TYPE_LATEST


class _Durations:
    """Request durations of one route not yet written: a count per bucket, and their sum."""

    def __init__(self, buckets: int):
        self.counts = [0] * buckets
        self.total = 0.0


class StateCollector:
    def __init__(self, readers: list[StateReader]):
        self.readers = readers

    def collect(self) -> Iterator[Any]:
        for read in self.readers:
            try:
                yield from read()
            except Exception as error:  # shared state unreachable: leave those gauges out
                log.warning("metrics: could not read %s: %s", getattr(read, "__name__", read),
                            error)


def instance_state(service: ImageService, job_queue: JobQueue) -> StateReader:
    """Gauges of what every process shares: open breakers, stored images, jobs by status."""
    from prometheus_client.core import GaugeMetricFamily

    def read_instance_state() -> Iterator[Any]:
        circuit = GaugeMetricFamily("artproxy_provider_circuit_open",
                                    "1 while a provider is skipped after repeated failures",
                                    labels=["provider"])
        for breaker in service.breakers:
            circuit.add_metric([breaker.name], 1.0 if breaker.status()[0] == "open" else 0.0)
        yield circuit
        in_flight = GaugeMetricFamily("artproxy_upstream_calls_in_flight",
                                      "Calls in flight to a provider with a concurrency limit",
                                      labels=["provider"])
        waiting = GaugeMetricFamily("artproxy_upstream_calls_waiting",
                                    "Calls waiting for a turn of a provider's concurrency limit",
                                    labels=["provider"])
        for name, turns in service.turns.items():
            in_flight.add_metric([name], turns.in_flight())
            waiting.add_metric([name], turns.waiting())
        yield in_flight
        yield waiting
        yield GaugeMetricFamily("artproxy_images_stored", "Live stored images",
                                value=len(service.store.list_images()))
        jobs = GaugeMetricFamily("artproxy_jobs", "Jobs by status", labels=["state"])
        for state, count in job_queue.counts().items():
            jobs.add_metric([state], count)
        yield jobs

    return read_instance_state


def create_metrics(enabled: bool) -> Metrics:
    return PrometheusMetrics() if enabled else NullMetrics()
