"""Unread counts per agent and conversation, kept in Redis so that every device of an agent
agrees: the agent's read position (a seq) per conversation; the count is computed when listing
(the customer's messages after that position), so message ingest writes nothing per agent."""

from gateway.unread.service import Unread

__all__ = ["Unread"]
