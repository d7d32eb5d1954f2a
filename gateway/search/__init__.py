"""Search across customers and conversations (Chinese included), for the console's header
and the API (docs/search.md).

Redis stays the one store of record: each process holds its own index, derived from the
records and kept current by polling two change feeds Redis already keeps
(``convs:by_activity``, ``contacts:changed``) every 0.3 s; the first poll is the rebuild.

- ``Search`` (service.py): the service object wired in gateway/services.py: ``start`` /
  ``stop``, ``conversations(viewer, query, filters, limit=, offset=)``,
  ``customers(viewer, query, limit=, offset=)``, ``ready``, ``memory()``.
- ``Filters``, ``Page`` (results.py): filters of a conversation search, one page of results.
"""

from gateway.search.results import Filters, Page
from gateway.search.service import Search

__all__ = ["Filters", "Page", "Search"]
