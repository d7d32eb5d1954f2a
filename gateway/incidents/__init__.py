"""Mention spikes as incidents: one routable item for a senior, the mentions for everyone, an
approved statement as the suggested reply, and a bulk reply through the outbox."""

from gateway.incidents.service import BulkOutcome, IncidentError, Incidents

__all__ = ["BulkOutcome", "IncidentError", "Incidents"]
