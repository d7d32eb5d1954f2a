"""Prometheus metrics of one gateway process (a registry per app, so tests stay independent)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.inbound = Counter(
            "gateway_inbound_messages_total",
            "Inbound messages by channel type",
            ["channel", "duplicate"],
            registry=self.registry,
        )
        self.outbound = Counter(
            "gateway_outbound_deliveries_total",
            "Outbound delivery outcomes by channel type",
            ["channel", "state"],
            registry=self.registry,
        )
        self.offers = Counter(
            "gateway_offers_total",
            "Offers made, declined and timed out",
            ["outcome"],
            registry=self.registry,
        )
        self.spikes = Counter("gateway_mention_spikes_total", "Mention spike alerts raised",
                              ["channel"], registry=self.registry)
        self.websockets = Gauge(
            "gateway_websocket_clients",
            "Connected WebSocket clients",
            ["kind"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
