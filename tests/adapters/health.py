"""Reads the adapter-health figures of one channel from the gateway's own GET /metrics."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Harness

FIGURES = {
    "gateway_adapter_poll_lag_seconds": "poll_lag",
    "gateway_adapter_last_poll_success_timestamp_seconds": "poll_ok",
    "gateway_adapter_token_refresh_errors_total": "token_errors",
}


async def health(h: Harness, channel_id: str) -> dict[str, float]:
    """{"poll_lag", "poll_ok", "token_errors"}: the ones /metrics shows for this channel."""
    resp = await h.client.get("/metrics")
    assert resp.status == 200
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(await resp.text()):
        for sample in family.samples:
            name = FIGURES.get(sample.name)
            if name and sample.labels.get("channel_id") == channel_id:
                out[name] = sample.value
    return out
