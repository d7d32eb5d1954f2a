"""Prometheus metrics of one gateway process.

Without PROMETHEUS_MULTIPROC_DIR each app has its own registry (tests stay independent). With it
(`gateway serve --workers N`), prometheus-client writes every process's values to files in that
directory and `/metrics` aggregates them, so any process answers for all. Figures that describe
shared state (queue depth, oldest wait) are read from Redis at scrape time instead, so they are
never summed over processes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

# Seconds: from chat-like targets (minutes) up to email ones (hours).
WAIT_BUCKETS = (5, 15, 30, 60, 120, 180, 300, 600, 900, 1800, 3600, 7200, 14400, 86400)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.multiprocess = multiprocess_dir() is not None
        reg = self.registry
        self.inbound = Counter(
            "gateway_inbound_messages_total",
            "Inbound messages by channel type",
            ["channel", "duplicate"],
            registry=reg,
        )
        self.outbound = Counter(
            "gateway_outbound_deliveries_total",
            "Outbound delivery outcomes by channel type",
            ["channel", "state"],
            registry=reg,
        )
        self.offers = Counter(
            "gateway_offers_total",
            "Offers made, declined and timed out",
            ["outcome"],
            registry=reg,
        )
        self.spikes = Counter(
            "gateway_mention_spikes_total",
            "Mention spike alerts raised",
            ["channel"],
            registry=reg,
        )
        self.websockets = Gauge(
            "gateway_websocket_clients",
            "Connected WebSocket clients",
            ["kind"],
            registry=reg,
            multiprocess_mode="livesum",
        )
        self.time_to_offer = Histogram(
            "gateway_time_to_offer_seconds",
            "From the customer waiting to the first offer to an agent",
            ["channel", "priority"],
            buckets=WAIT_BUCKETS,
            registry=reg,
        )
        self.first_response = Histogram(
            "gateway_first_response_seconds",
            "From a conversation's start (or reopening) to the first agent reply",
            ["channel", "priority"],
            buckets=WAIT_BUCKETS,
            registry=reg,
        )
        self.sla_breaches = Counter(
            "gateway_sla_breaches_total",
            "SLA clocks breached",
            ["clock", "priority", "channel"],
            registry=reg,
        )
        self.resolved = Counter(
            "gateway_conversations_resolved_total",
            "Conversations resolved",
            ["channel", "priority"],
            registry=reg,
        )
        self.surveys = Counter(
            "gateway_surveys_total",
            "Satisfaction surveys sent and answered",
            ["outcome"],
            registry=reg,
        )
        self.followups = Counter(
            "gateway_followups_sent_total",
            "Follow-up messages sent after resolution",
            registry=reg,
        )
        self.last_inbound = Gauge(
            "gateway_channel_last_inbound_timestamp_seconds",
            "When a channel last delivered a customer message (adapter health)",
            ["channel_id"],
            registry=reg,
            multiprocess_mode="max",
        )
        self._inbound_children: dict[tuple[str, str, bool], tuple[Any, Any]] = {}
        self.last_send_ok = Gauge(
            "gateway_channel_last_send_success_timestamp_seconds",
            "When a reply last went out on a channel (adapter health)",
            ["channel_id"],
            registry=reg,
            multiprocess_mode="max",
        )

        # Adapter health, reported by adapters through AdapterContext.report_health
        # (docs/reports.md).
        self.poll_lag = Gauge(
            "gateway_adapter_poll_lag_seconds",
            "How far behind the platform a channel's poller is",
            ["channel_id"],
            registry=reg,
            multiprocess_mode="max",
        )
        self.poll_ok = Gauge(
            "gateway_adapter_last_poll_success_timestamp_seconds",
            "When a channel's poller last succeeded",
            ["channel_id"],
            registry=reg,
            multiprocess_mode="max",
        )
        self.token_errors = Counter(
            "gateway_adapter_token_refresh_errors_total",
            "Failed access-token refreshes per channel",
            ["channel_id"],
            registry=reg,
        )

    def message_in(self, channel: str, channel_id: str, duplicate: bool) -> None:
        """One customer message filed. The labelled children are kept: ``labels()`` costs
        about 1.5 us a call, on every message (label sets are few: one per channel)."""
        key = (channel, channel_id, duplicate)
        children = self._inbound_children.get(key)
        if children is None:
            children = self._inbound_children[key] = (
                self.inbound.labels(channel=channel, duplicate=str(duplicate).lower()),
                self.last_inbound.labels(channel_id=channel_id),
            )
        children[0].inc()
        children[1].set(time.time())

    def adapter_health(self, channel_id: str, name: str, value: float) -> None:
        """name: poll_lag (seconds), poll_ok (epoch seconds) or token_error (count)."""
        if name == "poll_lag":
            self.poll_lag.labels(channel_id=channel_id).set(value)
        elif name == "poll_ok":
            self.poll_ok.labels(channel_id=channel_id).set(value)
        elif name == "token_error":
            self.token_errors.labels(channel_id=channel_id).inc(value)
        else:
            raise ValueError(f"unknown adapter health figure {name!r}")

    def render(self, queue: Mapping[str, tuple[int, float]] | None = None) -> bytes:
        """The text exposition; `queue` maps class -> (depth, oldest wait in seconds)."""
        if self.multiprocess:
            merged = CollectorRegistry()
            MultiProcessCollector(merged, path=multiprocess_dir())
            body = generate_latest(merged)
        else:
            body = generate_latest(self.registry)
        if queue is not None:
            body += generate_latest(_queue_registry(queue))
        return body


def _queue_registry(queue: Mapping[str, tuple[int, float]]) -> CollectorRegistry:
    """A throw-away registry for shared state read at scrape time (metric families, not Gauge
    objects, which in multiprocess mode would write value files)."""
    depth = GaugeMetricFamily(
        "gateway_queue_depth", "Conversations waiting, per class", labels=["priority"]
    )
    oldest = GaugeMetricFamily(
        "gateway_queue_oldest_wait_seconds",
        "How long the longest-waiting conversation of a class has waited",
        labels=["priority"],
    )
    for name, (count, wait) in sorted(queue.items()):
        depth.add_metric([name], count)
        oldest.add_metric([name], wait)
    reg = CollectorRegistry()
    reg.register(_Fixed([depth, oldest]))
    return reg


class _Fixed(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families
