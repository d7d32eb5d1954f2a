"""The widget on a customer's site and the agent console, in a real Chromium.

A visitor writes; an agent signed in to the console is offered the chat, accepts, replies; the
visitor sees the reply under the agent's name, typing indicators cross both ways, a reload keeps
the conversation, markup is shown as text everywhere, and a channel an admin creates in the
console works at once. Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.appkeys import HUB
from tests.conftest import Harness, wait_for
from tests.console.conftest import BrowserPage, CustomerSite
from tests.webchat.visitor import Visitor

pytestmark = pytest.mark.browser

XSS = "<img src=x onerror=alert(1)>"
PASSWORD = "agent-password-123"


async def _user(h: Harness, email: str, name: str, role: str = "agent") -> str:
    body = {"email": email, "password": PASSWORD, "name": name, "role": role}
    return (await h.call("POST", "/api/v1/users", json_body=body, expect=201))["user"]["id"]


async def _sign_in(bp: BrowserPage, h: Harness, email: str) -> Any:
    page = bp.page
    await page.goto(f"{h.base_url}/console")
    await page.fill("#login-form input[name=email]", email)
    await page.fill("#login-form input[name=password]", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_selector("#app:not([hidden])")
    await page.wait_for_selector("#conn.conn-connected")
    return page


async def _go_online(page: Any) -> None:
    await page.select_option("#presence", "online")
    await page.wait_for_selector("#toast:has-text('You are online')")


async def _open_widget(page: Any) -> None:
    await page.locator(".launcher").click()
    await page.locator(".panel .status").wait_for(state="hidden")


async def _visitor_says(page: Any, text: str) -> None:
    await page.locator(".composer textarea").fill(text)
    await page.locator(".composer textarea").press("Enter")


async def _shadow_has_img(page: Any) -> bool:
    return await page.evaluate(
        "() => !!document.querySelector('[data-gateway-chat]').shadowRoot.querySelector('img')"
    )


async def test_visitor_and_agent_chat_end_to_end(
    gateway: Harness, new_page, customer_site: CustomerSite, artifacts: Path
):
    h = gateway
    channel = await h.create_channel(
        "webchat",
        # English widget texts: a channel's default language is zh-CN
        {
            "allowed_origins": [customer_site.origin],
            "greeting": "Welcome to the tea shop!",
            "language": "en",
        },
        name="Tea shop",
    )
    customer_site.settings.update(gateway=h.base_url, channel=channel["id"])
    await _user(h, "alice@example.com", "Alice")

    agent = await new_page()
    console = await _sign_in(agent, h, "alice@example.com")
    await _go_online(console)

    visitor = await new_page()
    site = visitor.page
    await site.goto(customer_site.url)
    await _open_widget(site)
    greeting = site.locator(".msg.greeting")
    await greeting.wait_for()
    assert await greeting.text_content() == "Welcome to the tea shop!"
    await _visitor_says(site, "Hello, is the oolong in stock?")
    await site.locator(".msg.visitor[data-seq]").first.wait_for()

    # The agent is offered the chat, accepts it, and sees the message.
    offer = console.locator(".offer")
    await offer.wait_for()
    assert "s" in (await offer.locator(".offer-timer").text_content() or "")
    await console.screenshot(path=str(artifacts / "console-offer.png"))
    await offer.locator("button.accept").click()
    await console.locator("#log .msg.in", has_text="Hello, is the oolong in stock?").wait_for()
    await console.locator("#conv-head .status", has_text="open").wait_for()

    # Typing reaches the other side, both ways.
    await site.locator(".composer textarea").type("Also, do you")
    await console.locator("#typing", has_text="is typing").wait_for()
    await console.locator("#reply-text").type("Let me check")
    await site.locator(".typing", has_text="Alice is typing").wait_for()

    # The reply arrives under the agent's name.
    await console.locator("#reply-text").fill("Yes, we have 20 tins of oolong.")
    await console.locator("#composer button[type=submit]").click()
    reply = site.locator(".msg.agent", has_text="Yes, we have 20 tins of oolong.")
    await reply.wait_for()
    assert await reply.locator(".who").text_content() == "Alice"
    await console.locator("#log .msg.out .delivery", has_text="Seen").wait_for()
    await site.locator(".msg.visitor .state", has_text="Seen").first.wait_for()

    # Markup is text on both pages and runs nothing.
    await site.locator(".composer textarea").fill(XSS)
    await site.locator(".composer textarea").press("Enter")
    await console.locator("#log .msg.in .text", has_text=XSS).wait_for()
    await console.locator("#reply-text").fill(f"You wrote {XSS}")
    await console.locator("#composer button[type=submit]").click()
    await site.locator(".msg.agent .text", has_text=f"You wrote {XSS}").wait_for()
    assert await console.locator("#log img").count() == 0
    assert not await _shadow_has_img(site)

    await site.screenshot(path=str(artifacts / "widget-chat.png"))
    await console.screenshot(path=str(artifacts / "console-conversation.png"))

    # A reload keeps the whole conversation.
    await site.reload()
    await _open_widget(site)
    texts = site.locator(".msg[data-seq] .text")
    await site.locator(".msg.agent", has_text=f"You wrote {XSS}").wait_for()
    assert await texts.all_text_contents() == [
        "Hello, is the oolong in stock?",
        "Yes, we have 20 tins of oolong.",
        XSS,
        f"You wrote {XSS}",
    ]
    await site.screenshot(path=str(artifacts / "widget-after-reload.png"))

    assert visitor.dialogs == [] and agent.dialogs == []
    assert visitor.errors == [] and agent.errors == []


async def test_admin_creates_a_channel_in_the_console_and_it_works_at_once(
    gateway: Harness, new_page, customer_site: CustomerSite, artifacts: Path
):
    h = gateway
    await _user(h, "root@example.com", "Root", role="admin")
    admin = await new_page()
    console = await _sign_in(admin, h, "root@example.com")
    await console.click("#nav a[data-page=channels]")
    await console.select_option("#new-channel-type", "webchat")
    await console.click("#new-channel")
    form = console.locator("#channel-form")
    await form.locator("input[name=channel_name]").fill("Shop front")
    await form.locator("textarea[name=allowed_origins]").fill(customer_site.origin)
    await form.locator("input[name=title]").fill("Ask the shop")
    await form.locator("textarea[name=greeting]").fill("Hello from the new channel")
    await form.locator("select[name=language]").select_option("en")  # default: zh-CN
    await form.locator("button[type=submit]").click()
    card = console.locator("#channel-list .channel", has_text="Shop front")
    await card.wait_for()
    await card.locator(".state", has_text="running").wait_for()
    assert "widget.js" in (await card.locator(".snippet").text_content() or "")
    assert await card.locator("text=session_secret").count() == 0
    await card.locator("button", has_text="Verify").click()
    await card.locator("text=Credentials OK").wait_for()
    await console.screenshot(path=str(artifacts / "console-channels.png"))
    channel_id = await card.get_attribute("data-channel")

    customer_site.settings.update(gateway=h.base_url, channel=channel_id or "")
    visitor = await new_page()
    site = visitor.page
    await site.goto(customer_site.url)
    await _open_widget(site)
    await site.locator(".head .title", has_text="Ask the shop").wait_for()
    # Nobody is online and no email channel exists: the chat-only offline message, no email form.
    await site.locator(".msg.greeting", has_text="answer in this chat").wait_for()
    assert not await site.locator(".offline input[type=email]").is_visible()
    await site.screenshot(path=str(artifacts / "widget-offline.png"))
    await _visitor_says(site, "Is this new chat working?")
    await site.locator(".msg.visitor[data-seq]").wait_for()

    async def arrived():
        convs = await h.call("GET", f"/api/v1/conversations?channel={channel_id}")
        return convs["conversations"]

    conversations = await wait_for(arrived)
    messages = await h.call("GET", f"/api/v1/conversations/{conversations[0]['id']}/messages")
    assert messages["messages"][0]["text"] == "Is this new chat working?"
    assert admin.errors == [] and visitor.errors == []


async def test_console_canned_picker_notes_and_inbox(
    gateway: Harness, new_page, customer_site: CustomerSite, artifacts: Path
):
    h = gateway
    channel = await h.create_channel(
        "webchat", {"allowed_origins": [customer_site.origin], "prechat_form": True}, name="Shop"
    )
    customer_site.settings.update(gateway=h.base_url, channel=channel["id"])
    await h.call(
        "POST",
        "/api/v1/canned",
        json_body={"shortcut": "thanks", "title": "Thank you", "text": "Thanks {{customer.name}}!"},
        expect=201,
    )
    await _user(h, "bob@example.com", "Bob")
    agent = await new_page()
    console = await _sign_in(agent, h, "bob@example.com")
    await _go_online(console)

    visitor = await new_page()
    site = visitor.page
    await site.goto(customer_site.url)
    await _open_widget(site)
    await site.locator(".prechat input[name=name]").wait_for()
    await site.screenshot(path=str(artifacts / "widget-prechat.png"))
    await site.locator(".prechat input[name=name]").fill("Mei")
    await site.locator(".prechat input[name=email]").fill("mei@example.com")
    await site.locator(".prechat button").click()
    await site.locator(".composer textarea").wait_for()
    await _visitor_says(site, "Where is my parcel?")

    await console.locator(".offer button.accept").click()
    await console.locator("#conv-head h2", has_text="Mei").wait_for()
    row = console.locator("#conversations .row", has_text="Mei")
    await row.wait_for()
    assert (await row.locator(".sla").text_content() or "").startswith("SLA")

    # An internal note never reaches the visitor.
    await console.select_option("#reply-mode", "note")
    await console.locator("#reply-text").fill("Parcel lost by the courier?")
    await console.locator("#composer button[type=submit]").click()
    await console.locator("#log .msg.note", has_text="Parcel lost").wait_for()

    # The /shortcut picker inserts the canned response, rendered for this customer.
    await console.select_option("#reply-mode", "reply")
    await console.locator("#reply-text").fill("")
    await console.locator("#reply-text").type("/tha")
    await console.locator("#canned-picker li", has_text="/thanks").wait_for()
    # An input method's Enter (committing pinyin) is not the agent choosing an entry.
    await console.locator("#reply-text").evaluate(
        "(el) => el.dispatchEvent(new KeyboardEvent('keydown', "
        "{key: 'Enter', isComposing: true, bubbles: true, cancelable: true}))"
    )
    assert await console.locator("#reply-text").input_value() == "/tha"
    await console.locator("#reply-text").press("Enter")
    assert await console.locator("#reply-text").input_value() == "Thanks Mei!"
    await console.locator("#composer button[type=submit]").click()
    await site.locator(".msg.agent", has_text="Thanks Mei!").wait_for()
    await console.screenshot(path=str(artifacts / "console-inbox.png"))
    assert await site.locator(".msg", has_text="Parcel lost").count() == 0

    # The live connection drops (server side): the console says so, reconnects by itself and
    # catches up with what was written meanwhile.
    await h.client.server.app[HUB].close_all()
    await console.locator("#conn.conn-offline").wait_for()
    token = await site.evaluate(f"() => JSON.parse(localStorage['gwchat:{channel['id']}']).token")
    meanwhile = Visitor(h, channel["id"], origin=customer_site.origin)
    await meanwhile.connect(token=token)
    await meanwhile.say("gap-1", "Written while the console was away")
    await meanwhile.close()
    await console.locator("#conn.conn-connected").wait_for()
    await console.locator("#log .msg.in", has_text="Written while the console was away").wait_for()

    # Resolve from the console: the customer's last message has no answer, so it asks first.
    await console.locator("#conv-head button.resolve").click()
    await console.locator("#conv-head .resolve-confirm button.confirm").click()
    await console.locator("#conv-head .status", has_text="resolved").wait_for()
    assert agent.errors == [] and visitor.errors == []


async def test_admin_pages_and_a_failed_reply_retried(
    gateway: Harness, new_page, callback_server, artifacts: Path
):
    h = gateway
    await _user(h, "chief@example.com", "Chief", role="admin")
    admin = await new_page()
    console = await _sign_in(admin, h, "chief@example.com")

    # Users: create an agent through the form.
    await console.click("#nav a[data-page=users]")
    await console.click("#page-users button:has-text('New user')")
    form = console.locator("#user-form")
    await form.locator("input[name=email]").fill("dora@example.com")
    await form.locator("input[name=name]").fill("Dora")
    await form.locator("input[name=password]").fill("dora-password-1")
    await form.locator("select[name=role]").select_option("supervisor")
    await form.locator("input[name=capacity]").fill("3")
    await form.locator("input[name=teams]").fill("billing, vip")
    await form.locator("button[type=submit]").click()
    await console.locator("#page-users tr", has_text="dora@example.com").wait_for()
    users = (await h.call("GET", "/api/v1/users"))["users"]
    dora = next(u for u in users if u["email"] == "dora@example.com")
    assert (dora["role"], dora["capacity"], dora["teams"]) == ("supervisor", 3, ["billing", "vip"])

    # Canned responses: create one through the form.
    await console.click("#nav a[data-page=canned]")
    await console.click("#page-canned button:has-text('New canned response')")
    form = console.locator("#canned-form")
    await form.locator("input[name=shortcut]").fill("refund")
    await form.locator("input[name=title]").fill("Refund policy")
    await form.locator("textarea[name=text]").fill("Hi {{customer.name}}, refunds take 5 days.")
    await form.locator("button[type=submit]").click()
    await console.locator("#page-canned td", has_text="/refund").wait_for()
    await console.screenshot(path=str(artifacts / "console-canned.png"))

    # A reply through the API channel fails (the callback refuses it), shows why, and is
    # sent again with Retry.
    callback_server.status.append(400)
    channel_id, secret = await h.api_channel(callback_server.url)
    status, body = await h.post_api_message(
        channel_id,
        secret,
        {"message_id": "m-1", "sender": {"id": "c-1", "name": "Wang Fang"}, "text": "Refund?"},
    )
    assert status == 202
    await console.click("#nav a[data-page=inbox]")
    await console.select_option("#filters select[name=view]", "all")
    row = console.locator("#conversations .row", has_text="Wang Fang")
    await row.wait_for()
    await row.click()
    await console.locator("#log .msg.in", has_text="Refund?").wait_for()
    await console.locator("#reply-text").type("/ref")
    await console.locator("#canned-picker li", has_text="/refund").click()
    assert await console.locator("#reply-text").input_value() == (
        "Hi Wang Fang, refunds take 5 days."
    )
    await console.locator("#composer button[type=submit]").click()
    failed = console.locator("#log .msg.out .delivery.failed")
    await failed.wait_for()
    assert "400" in (await failed.text_content() or "")
    await console.screenshot(path=str(artifacts / "console-failed-reply.png"))
    await failed.locator("button.retry").click()
    await console.locator("#log .msg.out .delivery.sent").wait_for()
    assert len(callback_server.received) == 2
    # Answered: the first-response countdown is gone from the header and the list.
    await console.locator("#conv-head .sla").wait_for(state="detached")
    assert await row.locator(".sla").text_content() == ""

    # Transfer it to Dora (signed in, away: an offline agent is refused), snooze it, then filter
    # it out and back in by status.
    dora_token = await h.login("dora@example.com", "dora-password-1")
    await h.call("PUT", "/api/v1/agents/me/status", dora_token, {"status": "away"})
    await console.select_option("#conv-head select[aria-label='Transfer to agent']", dora["id"])
    await console.locator("#conv-head button", has_text="Transfer").click()
    await console.locator("#log .msg.event", has_text="Transferred to Dora").wait_for()
    detail = await h.call("GET", f"/api/v1/conversations/{body['conversation_id']}")
    assert detail["conversation"]["assignee"] == dora["id"]
    await console.locator("#conv-head button", has_text="Snooze").click()
    await console.locator("#conv-head .status", has_text="snoozed").wait_for()
    await console.locator("#conversations .row", has_text="Wang Fang").wait_for(state="detached")
    await console.select_option("#filters select[name=status]", "snoozed")
    await console.locator("#conversations .row", has_text="Wang Fang").wait_for()
    assert admin.errors == [] and admin.dialogs == []


async def test_an_agent_attaches_a_file_in_the_console(
    gateway: Harness, new_page, callback_server, artifacts: Path
):
    """Attach appears for replies (not notes) on channels that carry files; the picked file is
    uploaded, shown (its name as text), sent with the reply and listed in the log."""
    h = gateway
    await _user(h, "chief@example.com", "Chief", role="admin")
    admin = await new_page()
    console = await _sign_in(admin, h, "chief@example.com")
    channel_id, secret = await h.api_channel(callback_server.url)
    status, _ = await h.post_api_message(
        channel_id, secret,
        {"message_id": "m-1", "sender": {"id": "c-1", "name": "Li Na"}, "text": "Invoice?"},
    )  # fmt: skip
    assert status == 202
    await console.select_option("#filters select[name=view]", "all")
    await console.locator("#conversations .row", has_text="Li Na").click()
    await console.locator("#log .msg.in", has_text="Invoice?").wait_for()

    attach = console.locator("#reply-attach")
    assert await attach.is_visible()
    await console.select_option("#reply-mode", "note")
    assert not await attach.is_visible()
    await console.select_option("#reply-mode", "reply")
    name = f"{XSS}.pdf"
    data = b"%PDF-1.4 invoice" * 100
    await console.set_input_files(
        "#reply-file", files=[{"name": name, "mimeType": "application/pdf", "buffer": data}]
    )
    chip = console.locator("#reply-files .reply-file")
    await chip.wait_for()
    assert name in (await chip.text_content() or "")
    await console.locator("#reply-text").fill("Here it is.")
    await console.locator("#composer button[type=submit]").click()
    await console.locator("#log .msg.out .delivery.sent").wait_for()
    link = console.locator("#log .msg.out a.attachment")
    assert await link.text_content() == name
    assert await console.locator("#reply-files .reply-file").count() == 0
    await console.screenshot(path=str(artifacts / "console-attachment.png"))
    sent = json.loads(callback_server.received[-1][1])
    assert sent["text"] == "Here it is."
    [out] = sent["attachments"]
    assert out["name"] == name and out["size"] == len(data)
    async with aiohttp.ClientSession() as session, session.get(out["url"]) as fetched:
        assert await fetched.read() == data
    assert not await console.evaluate("() => !!document.querySelector('#log img')")

    # A web chat conversation carries files too; Attach is there.
    chat = await h.create_channel("webchat", {"allowed_origins": ["https://shop.example.com"]})
    visitor = Visitor(h, chat["id"])
    await visitor.connect()
    ack = await visitor.say("c1", "Hello from the chat")
    await console.evaluate(f"() => {{ location.hash = '#/inbox/{ack['conversation_id']}'; }}")
    await console.locator("#log .msg.in", has_text="Hello from the chat").wait_for()
    assert await console.locator("#reply-attach").is_visible()
    await visitor.close()
    assert admin.errors == [] and admin.dialogs == []


async def test_live_events_while_a_conversation_loads_are_kept_and_break_nothing(
    gateway: Harness, new_page, callback_server
):
    """The console opens a conversation in two requests; messages and updates that arrive
    between them must not touch the half-built pane (a page error) and must not be lost."""
    h = gateway
    await _user(h, "chief@example.com", "Chief", role="admin")
    admin = await new_page()
    frames: list[str] = []
    admin.page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(str(f))))
    console = await _sign_in(admin, h, "chief@example.com")
    channel_id, secret = await h.api_channel(callback_server.url)
    sender = {"id": "c-1", "name": "Li Na"}
    first = {"message_id": "m-1", "sender": sender, "text": "Where is my order?"}
    assert (await h.post_api_message(channel_id, secret, first))[0] == 202
    await console.select_option("#filters select[name=view]", "all")
    row = console.locator("#conversations .row", has_text="Li Na")
    await row.wait_for()

    held = asyncio.Event()
    release = asyncio.Event()

    async def hold(route: Any) -> None:
        held.set()
        await release.wait()
        await route.continue_()

    await console.route(re.compile(r"/conversations/[^/]+/messages\?"), hold)
    await row.click()
    await asyncio.wait_for(held.wait(), 20)
    second = {"message_id": "m-2", "sender": sender, "text": "It is urgent, please"}
    assert (await h.post_api_message(channel_id, secret, second))[0] == 202

    # The console has the live event before the pane is built; it refreshes the conversation
    # 300 ms later (debounced), so a second is time enough for every handler to have run.
    async def event_arrived() -> bool:
        return any("It is urgent" in str(frame) for frame in frames)

    await wait_for(event_arrived)
    await console.evaluate("() => new Promise((done) => setTimeout(done, 1000))")
    release.set()

    await console.locator("#log .msg.in", has_text="Where is my order?").wait_for()
    await console.locator("#log .msg.in", has_text="It is urgent, please").wait_for()
    await console.locator("#conv-head h2", has_text="Li Na").wait_for()
    assert admin.errors == [] and admin.dialogs == []
