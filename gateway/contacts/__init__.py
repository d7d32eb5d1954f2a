"""Contact profiles: one customer with several channel identities, merged and unmerged by
agents, exported and erased on request (PIPL / GDPR).

The contact hash ``keys.contact(id)`` (every value a string), as ingest.lua creates it and this
package extends it:

- ``id``, ``created_at`` (ms), ``name``, ``email``, ``phone``, ``tier`` (e.g. ``vip``),
  ``advisor`` (a user id: the VIP's dedicated advisor), ``last_agent`` (the sticky agent);
- ``identities``: the contact's channel identities, one ``<channel id>:<external id>`` per line
  (``\\n``-separated; a contact never merged has one). Each has its identity key
  ``keys.contact_identity(channel id, external id)`` naming this contact;
- ``notes``: free text by agents; ``attrs``: custom attributes as one JSON object of string
  values, e.g. ``{"order": "A-1001", "city": "上海"}``;
- ``merged_into`` (+ ``merged_at``, ``merge_id``): a tombstone, merged into that contact;
- ``erased_at``: erased (every other field but ``id`` and ``created_at`` gone).

Every conversation on every channel is in ``keys.contact_conversations(id)`` (by activity) and
names the contact in its ``contact_id``. Every change (edit, merge, undo, erase) scores the
contact in ``keys.contacts_changed()``, the search index's change feed.

Merge suggestions come from verified claims (``claims.py``), never from a name.
"""

from gateway.contacts.claims import claims_of
from gateway.contacts.profile import ContactPatch, contact_view
from gateway.contacts.service import Contacts, ContactsError

__all__ = ["ContactPatch", "Contacts", "ContactsError", "claims_of", "contact_view"]
