"""Every Redis key name of the gateway is built here, and nowhere else.

All keys of one deployment share one hash tag (``{prefix}``), so that every Lua script may touch
any of them and the same code runs on Redis Cluster (one slot: correct, not yet spread; see
docs/architecture.md). Tests give each test its own prefix, so they share one Redis server.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    prefix: str = "gw"

    def _k(self, *parts: object) -> str:
        return "{" + self.prefix + "}:" + ":".join(str(p) for p in parts)

    # --- ids -------------------------------------------------------------------------------
    def id_counter(self, kind: str) -> str:
        return self._k("ids", kind)

    # --- inbox -----------------------------------------------------------------------------
    def dedupe(self, channel_id: str, external_id: str) -> str:
        return self._k("dedupe", channel_id, external_id)

    def contact(self, contact_id: str) -> str:
        return self._k("contact", contact_id)

    def contact_identity(self, channel_id: str, external_id: str) -> str:
        return self._k("ident", channel_id, external_id)

    def contact_conversations(self, contact_id: str) -> str:
        return self._k("contact", contact_id, "convs")

    # --- contacts: profiles, merges, verified claims (gateway/contacts/) --------------------
    def contacts_changed(self) -> str:
        """Sorted set: contact id -> ms of its last edit, merge, undo or erase (the search
        index's change feed for contacts)."""
        return self._k("contacts", "changed")

    def contact_timeline(self, contact_id: str) -> str:
        """List: the contact's events (merge, undo, edit, erase) as JSON, newest first."""
        return self._k("contact", contact_id, "timeline")

    def contact_claims(self, contact_id: str) -> str:
        """Set: the verified claims ("email:<address>", "phone:<number>", "unionid:<id>") of
        the contact's identities."""
        return self._k("contact", contact_id, "claims")

    def claim_contacts(self, claim: str) -> str:
        """Set: the contacts holding one verified claim (two or more: a merge suggestion)."""
        return self._k("contacts", "claim", claim)

    def shared_claims(self) -> str:
        """Sorted set: claims held by two or more contacts, by when that was seen (ms)."""
        return self._k("contacts", "shared")

    def distinct_contacts(self) -> str:
        """Set: pairs of contacts an agent said are different people ("<id>|<id>", sorted),
        whose merge suggestion is not shown again."""
        return self._k("contacts", "distinct")

    def contact_merge(self, merge_id: str) -> str:
        """Hash: one merge (source, target, who, when, what it changed; undone_at)."""
        return self._k("contacts", "merge", merge_id)

    def thread(self, channel_id: str, thread_key: str) -> str:
        return self._k("thread", channel_id, thread_key)

    def conversation(self, conversation_id: str) -> str:
        return self._k("conv", conversation_id)

    def messages(self, conversation_id: str) -> str:
        return self._k("conv", conversation_id, "msgs")

    def deliveries(self, conversation_id: str) -> str:
        """Delivery state of each outbound message, by seq (the log itself is immutable)."""
        return self._k("conv", conversation_id, "delivery")

    def reply_once(self, conversation_id: str, client_id: str) -> str:
        """String, a day: the seq an agent's reply with this ``client_id`` got (a retried POST
        answers it instead of sending the reply twice)."""
        return self._k("conv", conversation_id, "client", client_id)

    def send_parts(self, conversation_id: str, seq: int | str) -> str:
        """Hash: the parts of one outbound message its platform accepted (part number ->
        platform id, and "total"), so a retry resumes after them; dropped once it is sent."""
        return self._k("conv", conversation_id, "parts", seq)

    def conversations_index(self) -> str:
        """Sorted set of all conversations by last activity (ms)."""
        return self._k("convs", "by_activity")

    # --- router ----------------------------------------------------------------------------
    def queue(self) -> str:
        """Waiting conversations, scored by first-response deadline (ms)."""
        return self._k("queue")

    def offers(self) -> str:
        """Offered conversations, scored by offer expiry (ms)."""
        return self._k("offers")

    def snoozed(self) -> str:
        """Snoozed conversations, scored by wake-up time (ms)."""
        return self._k("snoozed")

    def agent(self, user_id: str) -> str:
        return self._k("agent", user_id)

    def agents_presence(self) -> str:
        """Agents by last heartbeat (ms); stale ones go offline in the sweep."""
        return self._k("agents", "presence")

    def agents_available(self) -> str:
        """Online agents below capacity, scored by load ratio then idle time."""
        return self._k("agents", "available")

    def agent_conversations(self, user_id: str) -> str:
        return self._k("agent", user_id, "convs")

    def agent_reads(self, user_id: str) -> str:
        """Hash: conversation id -> the seq a user has read up to (gateway/unread/)."""
        return self._k("agent", user_id, "reads")

    # --- outbox ----------------------------------------------------------------------------
    def outbox(self) -> str:
        return self._k("outbox")

    def outbox_retry(self) -> str:
        return self._k("outbox", "retry")

    # --- users and auth --------------------------------------------------------------------
    def user(self, user_id: str) -> str:
        return self._k("user", user_id)

    def user_by_email(self, email: str) -> str:
        return self._k("user", "email", email.lower())

    def users(self) -> str:
        return self._k("users")

    def token(self, token_hash: str) -> str:
        return self._k("token", token_hash)

    def user_tokens(self, user_id: str) -> str:
        return self._k("user", user_id, "tokens")

    def login_failures(self, subject: str) -> str:
        return self._k("loginfail", subject)

    def login_failures_account(self, email: str, address: str) -> str:
        """Hash: failed logins of one account from one address (fails, locked until ms). The
        address is bracketed (no address holds "]"), so no email can pose as another pair."""
        return self._k("loginfail", "acct", f"[{address}]{email.lower()}")

    def login_failures_address(self, address: str) -> str:
        """Failed logins from one address, any account, in the current window."""
        return self._k("loginfail", "addr", address)

    # --- channels --------------------------------------------------------------------------
    def channel(self, channel_id: str) -> str:
        return self._k("channel", channel_id)

    def channels(self) -> str:
        return self._k("channels")

    def channel_names(self) -> str:
        """Hash: a channel name, trimmed and case-folded -> the channel holding it."""
        return self._k("channels", "names")

    def channel_accounts(self) -> str:
        """Hash: a platform account (``<type>:<its account fields>``) -> the channel receiving
        it (gateway/channels.py ``account_key``)."""
        return self._k("channels", "accounts")

    def channel_state(self, channel_id: str, name: str) -> str:
        """Adapter-owned state: cursors, cached tokens, UIDs, thread indexes."""
        return self._k("chan", channel_id, name)

    def channel_state_pattern(self, channel_id: str) -> str:
        """SCAN pattern of every ``channel_state`` key of one channel (ids hold no glob chars)."""
        return self._k("chan", channel_id, "*")

    def lease(self, name: str) -> str:
        return self._k("lease", name)

    # --- search: the one index of the deployment answers the others (gateway/search/desk.py) -
    def search_requests(self) -> str:
        """List: searches asked of the process holding the index, as JSON, oldest first."""
        return self._k("search", "requests")

    def search_reply(self, token: str) -> str:
        """List: the one answer to the search request ``token`` (expires unread)."""
        return self._k("search", "reply", token)

    def rate(self, name: str) -> str:
        return self._k("rate", name)

    # --- pub/sub ---------------------------------------------------------------------------
    def events_channel(self) -> str:
        return self._k("events")

    def channel_changes(self) -> str:
        return self._k("channel-changes")

    def agent_room(self) -> str:
        """Pub/sub: an agent id each time it enters ``agents_available`` (got room: online,
        capacity freed or raised); the router holding the lease wakes on it while nobody had
        room (router/lua/_lib.lua publishes it)."""
        return self._k("agents", "room")

    # --- social mention volume (adapters/social/spike.py) ----------------------------------
    def mention_bucket(self, channel_id: str, bucket_start_ms: int) -> str:
        """Mentions counted in one 5-minute bucket (expires after the retention)."""
        return self._k("mentions", channel_id, bucket_start_ms)

    def mention_bucket_early(self, channel_id: str, bucket_start_ms: int) -> str:
        """Conversations of a bucket's mentions delivered before the bucket was a spike, for
        its incident if it becomes one (a list, expires after an hour)."""
        return self._k("mentions", channel_id, bucket_start_ms, "early")

    def mention_alerts(self, channel_id: str) -> str:
        """Spike alerts of a channel, scored by bucket start (ms)."""
        return self._k("mentions", channel_id, "alerts")

    # --- incidents: a mention spike grouped as one incident (gateway/incidents/) -----------
    def incident(self, incident_id: str) -> str:
        """Hash: channel, status, counts, the routable item's conversation, statement, taker."""
        return self._k("incident", incident_id)

    def incident_mentions(self, incident_id: str) -> str:
        """Sorted set: the conversations of the incident's mentions, by when they joined (ms)."""
        return self._k("incident", incident_id, "mentions")

    def incident_bulk_lock(self, incident_id: str) -> str:
        """String (TTL): one bulk reply of the incident at a time."""
        return self._k("incident", incident_id, "bulk")

    def incidents(self) -> str:
        """Sorted set: every incident by creation time (ms)."""
        return self._k("incidents")

    def incident_current(self, channel_id: str) -> str:
        """String: the channel's latest incident, which spike mentions join while it is open."""
        return self._k("incidents", "current", channel_id)

    # --- web chat (adapters/webchat) and canned responses (gateway/api/canned_api.py) ------
    def webchat_fanout(self, channel_id: str) -> str:
        """Pub/sub: frames for the visitor sockets of one web chat channel, in every process."""
        return self._k("webchat", channel_id, "fanout")

    def canned_responses(self) -> str:
        """Hash: canned response id -> JSON (shortcut, title, text)."""
        return self._k("canned")

    # --- SLA and classification policies (router/policy_source.py) ---------------------------
    def sla_watch(self) -> str:
        """Conversations with a running SLA clock, scored by when to check them next (ms)."""
        return self._k("sla", "watch")

    def sla_policy(self) -> str:
        """The admins' SLA policy document (JSON); absent -> config/sla.toml."""
        return self._k("sla", "policy")

    def priority_rules(self) -> str:
        """The admins' classification rules (JSON); absent -> config/priority_rules.toml."""
        return self._k("sla", "rules")

    def agent_cards(self) -> str:
        """Hash: agent id -> the agent's routing card (JSON: status, load, capacity, teams...),
        rewritten by every router script that changes the agent, so one read serves a round."""
        return self._k("agents", "cards")

    # --- scheduled jobs, surveys, tags (gateway/scheduler.py, surveys.py, reports_store.py) --
    def jobs_due(self) -> str:
        """Scheduled jobs waiting, scored by due time (ms)."""
        return self._k("jobs", "due")

    def jobs_running(self) -> str:
        """Claimed jobs, scored by lease expiry (ms): an expired one is claimed again."""
        return self._k("jobs", "running")

    def job(self, job_id: str) -> str:
        """Hash: kind, payload JSON, attempts of one scheduled job."""
        return self._k("job", job_id)

    def survey_used(self, nonce: str) -> str:
        """Set once when a survey link is answered (expires with the link)."""
        return self._k("survey", "used", nonce)

    def reports_settings(self) -> str:
        """The admins' survey / follow-up settings (JSON); absent -> defaults."""
        return self._k("reports", "settings")

    def tag_index(self) -> str:
        """Set of every tag ever used (for pickers and the heat map)."""
        return self._k("tags")

    def agent_status_log(self, user_id: str) -> str:
        """Sorted set of an agent's status changes ("<ms>:<status>" by ms), for occupancy."""
        return self._k("agent", user_id, "statuslog")

    # --- knowledge base and self-service (gateway/kb/) -------------------------------------
    def kb_articles(self) -> str:
        """Hash: article id -> JSON (title, body, language, tags, product, times)."""
        return self._k("kb", "articles")

    def kb_version(self) -> str:
        """Counter raised by every change of articles or synonyms: each process's index
        compares it with the one it built."""
        return self._k("kb", "version")

    def kb_synonyms(self) -> str:
        """The admins' synonym groups (JSON list of lists of terms)."""
        return self._k("kb", "synonyms")

    def kb_selfservice(self) -> str:
        """Hash: channel id -> self-service mode (off, always, after_hours)."""
        return self._k("kb", "selfservice")

    def kb_stats(self, day: str) -> str:
        """Hash of one day's (YYYY-MM-DD, UTC) self-service counters: answered:<channel type>,
        solved:<channel type>, handoff:<reason>, considered:<channel type>, ..."""
        return self._k("kb", "stats", day)

    def kb_gaps(self) -> str:
        """Sorted set: folded customer question -> times asked with no good article."""
        return self._k("kb", "gaps")

    def kb_gap_samples(self) -> str:
        """Hash: folded question -> JSON (the latest text as written, channel, when)."""
        return self._k("kb", "gaps", "samples")

    def kb_feedback(self, verdict: str) -> str:
        """Sorted set: article id -> times customers marked its answer helpful / unhelpful."""
        return self._k("kb", "feedback", verdict)
