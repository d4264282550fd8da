"""Webhook mode: python-telegram-bot's own webhook server, fed by the fake Bot API's deliveries."""

from __future__ import annotations

import socket

import aiohttp
import pytest
import pytest_asyncio
import telegram
from telegram.error import BadRequest, Conflict

from engine.engine import Engine
from tests.fakes.telegram import FakeTelegram, telegram_bot, user
from tests.test_telegram import push_text, sent_to, text_of, wait_for

pytestmark = pytest.mark.asyncio(loop_scope="module")

ALICE = user(601, "Alice")
SECRET = "s3cret-Token_1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hooked(toy_engine: Engine):
    """The adapter in webhook mode, and the (local) fake delivering to it."""
    fake = FakeTelegram(local=True)
    await fake.start()
    url = f"http://127.0.0.1:{free_port()}/telegram/hook"
    async with telegram_bot(
        fake,
        toy_engine,
        telegram_webhook_url=url,
        telegram_webhook_listen="127.0.0.1",
        telegram_webhook_port=int(url.split(":")[2].split("/")[0]),
        telegram_webhook_secret=SECRET,
    ):
        await wait_for(fake, lambda c: any(m == "setWebhook" for m, _ in c))
        yield fake, url
    await fake.stop()


async def test_the_bot_sets_its_webhook_and_answers_what_is_delivered(hooked) -> None:
    fake, url = hooked
    (params,) = [p for m, p in fake.calls if m == "setWebhook"]
    assert params["url"] == url and params["secret_token"] == SECRET
    polled = [m for m, _ in fake.calls if m.startswith("getUpdates")]
    start = len(fake.calls)
    push_text(fake, ALICE["id"], ALICE, "/help")
    await wait_for(fake, lambda c: sent_to(fake, ALICE["id"], start))
    assert "/register" in text_of(sent_to(fake, ALICE["id"], start)[0][1])
    assert [m for m, _ in fake.calls if m.startswith("getUpdates")] == polled  # no polling
    assert fake.webhook.deliveries[-1][1] == 200
    assert fake.webhook.info()["pending_update_count"] == 0


async def test_a_post_without_the_secret_is_refused(hooked) -> None:
    fake, url = hooked
    start = len(fake.calls)
    forged = {
        "update_id": 999_999,
        "message": fake.message(ALICE["id"], ALICE, text="/help", entities=[]),
    }
    async with aiohttp.ClientSession() as session:
        for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "guess"}):
            async with session.post(url, json=forged, headers=headers) as response:
                assert response.status == 403
        async with session.post(url.rsplit("/", 1)[0] + "/other", json=forged) as response:
            assert response.status == 404
    assert sent_to(fake, ALICE["id"], start) == []


async def test_an_update_delivered_twice_is_answered_once(hooked) -> None:
    fake, _ = hooked
    start = len(fake.calls)
    push_text(fake, ALICE["id"], ALICE, "/privacy")
    update = fake.pushed[-1]
    await wait_for(fake, lambda c: sent_to(fake, ALICE["id"], start))
    fake.redeliver(update)  # as Telegram does when the answer to its POST was lost
    await wait_for(
        fake,
        lambda _: (
            [d for d in fake.webhook.deliveries if d[0] == update["update_id"]]
            == [(update["update_id"], 200)] * 2
        ),
    )
    push_text(fake, ALICE["id"], ALICE, "/help")  # a later update shows the first is done
    await wait_for(fake, lambda c: len(sent_to(fake, ALICE["id"], start)) >= 2)
    quoted = [
        p
        for _, p in sent_to(fake, ALICE["id"], start)
        if (p.get("reply_parameters") or {}).get("message_id") == update["message"]["message_id"]
    ]
    assert len(quoted) == 1


async def test_the_fake_refuses_what_telegram_refuses() -> None:
    fake = FakeTelegram()  # the official server, not a local one
    await fake.start()
    try:
        async with telegram.Bot(
            fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url
        ) as bot:
            for url, secret in [
                ("http://bot.example.org/hook", None),  # not HTTPS
                ("https://bot.example.org:9000/hook", None),  # a port Telegram won't call
                ("https://bot.example.org/hook", "no spaces!"),
                ("https://bot.example.org/hook", "x" * 257),
            ]:
                with pytest.raises(BadRequest):
                    await bot.set_webhook(url, secret_token=secret)
            assert (await bot.get_webhook_info()).url == ""
            assert await bot.set_webhook("https://bot.example.org:8443/hook", secret_token="ok")
            info = await bot.get_webhook_info()
            assert info.url == "https://bot.example.org:8443/hook" and info.max_connections == 40
            with pytest.raises(Conflict):  # no polling while a webhook is set
                await bot.get_updates(timeout=0)
            assert await bot.delete_webhook()
            assert await bot.get_updates(timeout=0) == ()
    finally:
        await fake.stop()
