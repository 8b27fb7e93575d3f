"""The publisher thread over the Redis channel layer: every message of a commit reaches the
group's members in commit order; a group nobody is in costs one lookup, not a send each."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer

from realtime import publish
from trading_site.settings.base import redis_settings


@pytest.fixture
def redis_layer(settings):
    layers = redis_settings(settings.REDIS_URL)["CHANNEL_LAYERS"]
    layers["default"]["CONFIG"]["prefix"] = f"test-publish-{uuid.uuid4().hex[:12]}"
    settings.CHANNEL_LAYERS = layers
    layer = get_channel_layer()
    assert isinstance(layer, RedisChannelLayer)
    yield layer
    # Not layer.flush(): it would close the publisher thread's connections from this loop.
    client = redis.Redis.from_url(layers["default"]["CONFIG"]["hosts"][0]["address"])
    for key in client.scan_iter(match=f"{layer.prefix}*"):
        client.delete(key)
    client.close()


def member(layer, group: str) -> str:
    async def join() -> str:
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        return channel

    return async_to_sync(join)()


def received(layer, channel: str, count: int) -> list[dict]:
    async def receive() -> list[dict]:
        return [await asyncio.wait_for(layer.receive(channel), 5) for _ in range(count)]

    return async_to_sync(receive)()


def test_a_commits_messages_reach_the_groups_members_in_order(redis_layer):
    channel = member(redis_layer, "account.1")

    for n in range(3):
        publish.broadcast(group="account.1", event="order.updated", payload={"n": n})
    publish.broadcast(group="account.1", event="fill.created", payload={"n": 3})

    messages = received(redis_layer, channel, 4)
    assert [(m["event"], m["payload"]["n"]) for m in messages] == [
        ("order.updated", 0),
        ("order.updated", 1),
        ("order.updated", 2),
        ("fill.created", 3),
    ]
    assert {m["type"] for m in messages} == {"platform.event"}


def test_messages_to_a_group_nobody_is_in_are_not_sent_one_by_one(redis_layer, monkeypatch):
    channel = member(redis_layer, "account.2")
    sent = []
    group_send = RedisChannelLayer.group_send

    async def counting_group_send(self, group, message):
        sent.append(group)
        await group_send(self, group, message)

    monkeypatch.setattr(RedisChannelLayer, "group_send", counting_group_send)

    for n in range(20):
        publish.broadcast(group="account.3", event="order.updated", payload={"n": n})
    publish.broadcast(group="account.2", event="order.updated", payload={"n": 20})

    # The publisher sends in commit order: once account.2's message is in, it is done.
    assert received(redis_layer, channel, 1)[0]["payload"] == {"n": 20}
    assert sent == ["account.2"]
