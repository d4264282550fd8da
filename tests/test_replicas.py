"""Three `python -m bot telegram` webhook processes, one PostgreSQL, one balancer: one bot."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.conftest import encode, new_database
from tests.fakes.cluster import Balancer, cluster
from tests.fakes.telegram import FakeTelegram, user
from tests.test_telegram import press, push_photo, push_text, sent_to, text_of, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

GROUP = -7001
ANN, BEN, CAL = user(801, "Ann"), user(802, "Ben"), user(803, "Cal")
WATCHERS = [user(811 + i, f"Watcher{i}") for i in range(3)]
PHOTOS_PER_MINUTE = 4
ROUND_SECONDS = 8
# Three /whoami photos at once, on two shared cores: their model work, generously.
WATCH_WORK_S = 10


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bots(request: pytest.FixtureRequest, tmp_path_factory, toy_model):
    url = new_database(request, "postgresql", Path())
    folder = tmp_path_factory.mktemp("replicas")
    async with cluster(
        url,
        toy_model,
        folder,
        RATE_LIMIT_PHOTOS=str(PHOTOS_PER_MINUTE),
        GAME_ROUND_SECONDS=str(ROUND_SECONDS),
        GAME_TAKEOVER_SECONDS="2",
    ) as (fake, balancer, replicas):
        await wait_for(fake, lambda c: sum(m == "setWebhook" for m, _ in c) == len(replicas))
        yield fake, balancer, replicas
        for replica in replicas:  # what went wrong, on failure
            print(f"--- replica {replica.name}\n{replica.tail()}")


def last_update(fake: FakeTelegram) -> dict[str, Any]:
    return fake.pushed[-1]


async def ask(fake: FakeTelegram, send, *args: Any, **fields: Any) -> tuple[dict, dict]:
    """Push one update and wait for the first reply to the chat: (update, reply)."""
    chat_id = args[0]
    start = len(fake.calls)
    send(fake, *args, **fields)
    update = last_update(fake)
    await wait_for(fake, lambda _: sent_to(fake, chat_id, start), 120)
    return update, sent_to(fake, chat_id, start)[0][1]


async def tap(fake: FakeTelegram, message: dict, sender: dict, answer: str) -> tuple[dict, dict]:
    start = len(fake.calls)
    press(fake, message, sender, answer)
    update = last_update(fake)
    await wait_for(fake, lambda _: sent_to(fake, int(message["chat_id"]), start), 120)
    return update, sent_to(fake, int(message["chat_id"]), start)[0][1]


def answered_by(balancer: Balancer, update: dict) -> int:
    (port,) = balancer.routes[update["update_id"]]
    return port


async def test_registered_on_one_replica_recognised_on_another_forgotten_on_all(
    bots, astronaut, hopper
) -> None:
    fake, balancer, replicas = bots
    photo = encode(astronaut, "JPEG")
    _, question = await ask(fake, push_photo, GROUP, ANN, photo, caption="/register")
    assert "Do you agree?" in text_of(question)
    # The button reaches another replica, which finds the question and its photo.
    yes, registered = await tap(fake, question, ANN, "yes")
    assert "I'll recognise you here" in text_of(registered), text_of(registered)
    whoami, named = await ask(fake, push_photo, GROUP, BEN, photo, caption="/whoami")
    assert "Ann" in text_of(named)
    assert answered_by(balancer, yes) != answered_by(balancer, whoami)

    # Ben registers too, so that the chat's gallery is not empty once Ann has gone.
    _, question = await ask(fake, push_text, GROUP, BEN, "/register")
    await tap(fake, question, BEN, "yes")
    _, registered = await ask(fake, push_photo, GROUP, BEN, encode(hopper, "JPEG"))
    assert "I'll recognise you here" in text_of(registered), text_of(registered)
    # Every replica now holds the chat's gallery, with Ann in it, in memory.
    assert all("Ann" in a for a in await watch(fake, balancer, replicas, photo))

    forget, confirm = await ask(fake, push_text, GROUP, ANN, "/forget")
    confirmed, done = await tap(fake, confirm, ANN, "yes")
    assert "erased" in text_of(done)
    forgotten_at = time.monotonic()
    answers = await watch(fake, balancer, replicas, photo)
    took = time.monotonic() - forgotten_at
    assert all("I don't know this person here" in a for a in answers), answers
    print(f"forgotten on all three replicas: their answers came {took:.2f} s after")
    assert took < 1 + WATCH_WORK_S
    routes = [answered_by(balancer, u) for u in (yes, whoami, forget, confirmed)]
    assert len(set(routes)) == len(replicas)  # each step through another replica


async def watch(fake: FakeTelegram, balancer: Balancer, replicas, photo: bytes) -> list[str]:
    """/whoami with ``photo`` through each replica at once; their answers."""
    start = len(fake.calls)
    for watcher in WATCHERS:
        push_photo(fake, GROUP, watcher, photo, caption="/whoami")
    await wait_for(fake, lambda _: len(sent_to(fake, GROUP, start)) >= len(WATCHERS), 120)
    watched = {answered_by(balancer, u) for u in fake.pushed[-len(WATCHERS) :]}
    assert watched == {r.port for r in replicas}
    return [text_of(p) for _, p in sent_to(fake, GROUP, start)]


async def test_rate_limits_hold_across_replicas(bots, hopper) -> None:
    fake, balancer, replicas = bots
    start = len(fake.calls)
    photo = encode(hopper, "JPEG")
    sent = PHOTOS_PER_MINUTE + 2
    for _ in range(sent):  # at once: the replicas charge the same budget together
        push_photo(fake, CAL["id"], CAL, photo, caption="/whoami")
    await wait_for(fake, lambda _: len(sent_to(fake, CAL["id"], start)) >= sent, 120)
    answers = [text_of(p) for _, p in sent_to(fake, CAL["id"], start)]
    assert sum("Nobody has registered" in a for a in answers) == PHOTOS_PER_MINUTE, answers
    assert sum("faster than I can look" in a for a in answers) == 2, answers
    ports = {answered_by(balancer, u) for u in fake.pushed[-sent:]}
    assert len(ports) == len(replicas)


async def test_a_round_ends_once_after_the_replica_that_started_it_is_killed(
    bots, astronaut, hopper
) -> None:
    fake, balancer, replicas = bots
    game, started = await ask(fake, push_text, GROUP, ANN, "/game Eileen Collins")
    assert "Eileen Collins" in text_of(started)
    starter = next(r for r in replicas if r.port == answered_by(balancer, game))
    starter.kill()  # its timer for the round dies with it
    start = len(fake.calls)
    push_photo(fake, GROUP, ANN, encode(astronaut, "JPEG"))
    push_photo(fake, GROUP, BEN, encode(hopper, "JPEG"))

    def ends() -> list[str]:
        texts = [text_of(p) for _, p in sent_to(fake, GROUP, start)]
        return [t for t in texts if "Time's up" in t]

    await wait_for(fake, lambda _: ends(), ROUND_SECONDS + 60)
    await asyncio.sleep(4)  # two more takeover sweeps of each survivor
    (result,) = ends()
    assert "1. Ann" in result and "2. Ben" in result and "The winner: Ann" in result, result
    assert sum(r.alive for r in replicas) == len(replicas) - 1


async def test_no_update_was_answered_twice(bots) -> None:
    fake, balancer, _ = bots
    help_update, _ = await ask(fake, push_text, GROUP, BEN, "/help")
    fake.redeliver(help_update)  # Telegram sends it again, to another replica
    await wait_for(fake, lambda _: len(balancer.routes[help_update["update_id"]]) == 2)
    await ask(fake, push_text, GROUP, BEN, "/privacy")  # after the redelivery's handling
    quoted: dict[int, int] = {}
    for method, params in fake.calls:
        if method.startswith("send") and "!" not in method:
            message_id = (params.get("reply_parameters") or {}).get("message_id")
            if message_id is not None:
                quoted[message_id] = quoted.get(message_id, 0) + 1
    presses: dict[str, int] = {}
    for method, params in fake.calls:
        if method == "answerCallbackQuery":
            key = str(params["callback_query_id"])  # the fake parses form values as JSON
            presses[key] = presses.get(key, 0) + 1
    sent = fake.pushed
    messages = [u["message"]["message_id"] for u in sent if "message" in u]
    buttons = [u["callback_query"]["id"] for u in sent if "callback_query" in u]
    game_entries = 2  # answered, but not by a quote
    answered = sum(1 for m in messages if quoted.get(m) == 1)
    print(
        f"updates sent {len(sent)}, delivered {len(fake.webhook.deliveries)} times, "
        f"answered once {answered + sum(presses.get(b) == 1 for b in buttons)}"
    )
    assert all(count == 1 for count in quoted.values()), quoted
    assert all(presses.get(b) == 1 for b in buttons), presses
    assert answered >= len(messages) - game_entries
