"""Self-service when Redis fails in the middle of an answer: the customer is never left waiting
for nobody. The conversation is taken out of the queue and the SLA watch (held) only once the
bot's answer is queued to the outbox; a failure before that leaves it queued for a person."""

from __future__ import annotations

from gateway.kb import selfservice
from gateway.scripts import load_script
from tests.conftest import CallbackServer, OwnRedisGateway, wait_for
from tests.kb.test_selfservice import _say, _setup


def _every_key_but(key: str) -> list[str]:
    """ACL key patterns matching every key name except ``key`` (Redis 6 ACLs only allow)."""

    def escape(text: str) -> str:
        return "".join("\\" + c if c in "*?[]\\" else c for c in text)

    patterns = [f"~{escape(key[:i])}[^{escape(key[i])}]*" for i in range(len(key))]
    patterns += [f"~{escape(key[:i])}" for i in range(len(key))]  # its own beginnings
    return [*patterns, f"~{escape(key)}?*"]  # and longer names (outbox:retry)


async def test_an_answer_that_cannot_be_queued_leaves_the_conversation_to_a_person(
    own_redis_gateway: OwnRedisGateway, callback_server: CallbackServer
):
    """The gateway may not touch the outbox stream (an ACL of the test's own Redis), so the
    bot's answer fails: the conversation stays open, queued and watched, and a person gets
    it. It used to be held first (pending, out of the queue): nobody would ever answer."""
    h = own_redis_gateway.harness
    gw = h.gw
    channel, secret = await _setup(h, callback_server)
    await gw.redis.execute_command("ACL", "SETUSER", "default", "resetkeys",
                                   *_every_key_but(gw.keys.outbox()))  # fmt: skip
    try:
        conv = await _say(h, channel, secret, 1, "请问怎么申请退款？")
        row = await gw.redis.hgetall(gw.keys.conversation(conv))
        assert row["status"] == "open" and row.get("bot_state") != "answered"
        assert await gw.redis.zscore(gw.keys.queue(), conv) is not None
        assert await gw.redis.zscore(gw.keys.sla_watch(), conv) is not None
    finally:
        await gw.redis.execute_command("ACL", "SETUSER", "default", "allkeys")
    messages = await gw.conversations.messages(conv)
    assert [m["direction"] for m in messages] == ["in"]  # nothing half-sent
    agent, _ = await h.agent_online("ann@example.com")

    async def offered() -> bool:
        return await gw.redis.hget(gw.keys.conversation(conv), "offered_to") == agent

    await wait_for(offered)
    assert callback_server.received == []


async def test_the_hold_of_one_answer_may_run_twice(
    own_redis_gateway: OwnRedisGateway, callback_server: CallbackServer
):
    """A retried hold (a cluster client resends a script whose answer timed out) finds its
    own answer's hold and says so, counting the answer once; another answer's is refused, and
    so is one after the customer wrote again (their new message stays queued)."""
    h = own_redis_gateway.harness
    gw = h.gw
    channel, secret = await _setup(h, callback_server, mode="off")
    conv = await _say(h, channel, secret, 1, "请问怎么申请退款？")
    k = gw.keys
    hold = load_script(gw.redis, selfservice.__file__, "hold")
    keys = [k.conversation(conv), k.queue(), k.sla_watch()]
    inbound_at = await gw.redis.hget(k.conversation(conv), "last_inbound_at")
    assert await hold(keys=keys, args=[conv, 1000, "a1", "0", "1"]) == 0  # wrote since
    assert await gw.redis.zscore(k.queue(), conv) is not None
    assert await hold(keys=keys, args=[conv, 1000, "a1", "0", inbound_at]) == 1
    assert await hold(keys=keys, args=[conv, 1000, "a1", "0", inbound_at]) == 1
    assert await hold(keys=keys, args=[conv, 2000, "a1", "0", inbound_at]) == 0
    assert await gw.redis.zscore(k.queue(), conv) is None
    row = await gw.redis.hgetall(k.conversation(conv))
    assert (row["status"], row["bot_answers"], row["bot_answered_at"]) == ("pending", "1", "1000")
