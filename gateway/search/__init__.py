"""Search across customers and conversations (Chinese included), for the console's header
and the API (docs/search.md).

Redis stays the one store of record: each process holds its own index, derived from the
records, fed by the ``message.created`` events the process receives (live.py) and kept
current by polling two change feeds Redis already keeps (``convs:by_activity``,
``contacts:changed``) every 0.3 s as the safety net; the first poll is the rebuild.

- ``Search`` (service.py): the service object wired in gateway/services.py: ``start`` /
  ``stop``, ``on_event`` (a listener of the event bus),
  ``conversations(viewer, query, filters, limit=, offset=)``,
  ``customers(viewer, query, limit=, offset=)``, ``ready``, ``memory()``.
- ``Filters``, ``Page`` (results.py): filters of a conversation search, one page of results.
"""

from gateway.search.results import Filters, Page
from gateway.search.service import Search

__all__ = ["Filters", "Page", "Search"]
