"""Search across customers and conversations (Chinese included), for the console's header
and the API (docs/search.md).

Redis stays the one store of record: one process of the deployment (the holder of the search
lease) holds the index, derived from the records, fed by the ``message.created`` events it
receives (live.py) and kept current by polling two change feeds Redis already keeps
(``convs:by_activity``, ``contacts:changed``) every 0.3 s as the safety net; the first poll is
the rebuild. The other processes hand their searches to it through Redis (desk.py).

- ``Search`` (service.py): the service object wired in gateway/services.py: ``start`` /
  ``stop``, ``on_event`` (a listener of the event bus),
  ``conversations(viewer, query, filters, limit=, offset=)``,
  ``customers(viewer, query, limit=, offset=)``, ``ready``, ``memory()``.
- ``Filters``, ``Page`` (results.py): filters of a conversation search, one page of results.
- ``SearchUnavailable`` (desk.py): the holder did not answer in time (a 503 to retry).
"""

from gateway.search.desk import SearchUnavailable
from gateway.search.results import Filters, Page
from gateway.search.service import Search

__all__ = ["Filters", "Page", "Search", "SearchUnavailable"]
