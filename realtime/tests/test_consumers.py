"""The dashboard socket: only authenticated users, only the groups of their own accounts."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.db import connections

from accounts.tests.factories import ExchangeAccountFactory, UserFactory
from realtime.consumers import DashboardConsumer
from realtime.groups import account_group, user_group

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def _close_the_sync_threads_connections():
    # database_sync_to_async runs on asgiref's long-lived sync thread, whose connection
    # would otherwise outlive the test and keep the test database from being dropped.
    yield
    await database_sync_to_async(connections.close_all)()


@database_sync_to_async
def _user_with_account(label: str):
    user = UserFactory()
    return user, ExchangeAccountFactory(owner=user, label=label, mode="paper")


async def _event(group: str, event: str, payload: dict) -> None:
    await get_channel_layer().group_send(
        group, {"type": "platform.event", "event": event, "payload": payload}
    )


async def _connect(user) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(DashboardConsumer.as_asgi(), "/ws/dashboard/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def test_an_unauthenticated_socket_is_closed():
    from django.contrib.auth.models import AnonymousUser

    communicator = WebsocketCommunicator(DashboardConsumer.as_asgi(), "/ws/dashboard/")
    communicator.scope["user"] = AnonymousUser()

    connected, code = await communicator.connect()

    assert connected is False
    assert code == 4401


async def test_another_users_account_events_never_reach_the_socket():
    alice, alices = await _user_with_account("alice's")
    bob, bobs = await _user_with_account("bob's")
    communicator = await _connect(alice)
    hello = await communicator.receive_json_from()
    assert hello == {"event": "hello", "payload": {"accounts": [alices.pk]}}

    await _event(account_group(bobs.pk), "order.updated", {"id": 1, "account": bobs.pk})
    await _event(user_group(bob.pk), "signal.updated", {"id": 2})
    await _event(account_group(alices.pk), "order.updated", {"id": 3, "account": alices.pk})

    # Only Alice's event arrives, though Bob's were sent first.
    assert await communicator.receive_json_from() == {
        "event": "order.updated",
        "payload": {"id": 3, "account": alices.pk},
    }
    assert await communicator.receive_nothing(timeout=0.2)
    await communicator.disconnect()


async def test_a_client_message_cannot_join_another_group():
    alice, _ = await _user_with_account("alice's")
    _, bobs = await _user_with_account("bob's")
    communicator = await _connect(alice)
    await communicator.receive_json_from()  # hello

    # The socket is one-way: whatever a client sends, it joins nothing.
    await communicator.send_json_to({"type": "subscribe", "group": account_group(bobs.pk)})
    await communicator.send_json_to({"type": "platform.event", "group": account_group(bobs.pk)})
    await _event(account_group(bobs.pk), "order.updated", {"id": 9})

    assert await communicator.receive_nothing(timeout=0.2)
    await communicator.disconnect()


async def test_the_asgi_app_authenticates_by_the_session_cookie(client):
    from django.conf import settings

    from trading_site.asgi import application

    alice, alices = await _user_with_account("alice's")
    await _user_with_account("bob's")
    await database_sync_to_async(client.force_login)(alice)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"

    signed_in = WebsocketCommunicator(
        application,
        "/ws/dashboard/",
        headers=[(b"cookie", cookie.encode()), (b"origin", b"http://testserver")],
    )
    anonymous = WebsocketCommunicator(
        application, "/ws/dashboard/", headers=[(b"origin", b"http://testserver")]
    )

    connected, _ = await signed_in.connect()
    assert connected
    assert (await signed_in.receive_json_from())["payload"] == {"accounts": [alices.pk]}
    assert (await anonymous.connect()) == (False, 4401)
    await asyncio.gather(signed_in.disconnect(), anonymous.disconnect())


@pytest.mark.parametrize(
    "frame",
    [
        {"bytes_data": b"\x00\x01binary"},
        {"text_data": "[1, 2, 3]"},
        {"text_data": "not json {"},
        {"text_data": "[" * 100_000 + "]" * 100_000},
        {"text_data": '"just a string"'},
    ],
)
async def test_junk_frames_are_ignored_and_the_socket_stays_open(frame):
    alice, _ = await _user_with_account("alice's")
    communicator = await _connect(alice)
    await communicator.receive_json_from()  # hello

    await communicator.send_to(**frame)
    await communicator.send_json_to({"type": "ping"})

    assert await communicator.receive_json_from() == {"event": "pong", "payload": {}}
    await communicator.disconnect()


async def _connect_with_session(user, session_key: str) -> WebsocketCommunicator:
    from types import SimpleNamespace

    communicator = WebsocketCommunicator(DashboardConsumer.as_asgi(), "/ws/dashboard/")
    communicator.scope["user"] = user
    communicator.scope["session"] = SimpleNamespace(session_key=session_key)
    connected, _ = await communicator.connect()
    assert connected
    await communicator.receive_json_from()  # hello
    return communicator


async def test_logging_out_closes_that_sessions_sockets_only():
    from types import SimpleNamespace

    from django.contrib.auth.signals import user_logged_out

    alice, _ = await _user_with_account("alice's")
    laptop = await _connect_with_session(alice, "laptop-session")
    phone = await _connect_with_session(alice, "phone-session")

    from django.test import RequestFactory

    # A real request: logout's other receivers (django-axes) read its headers.
    request = RequestFactory().post("/logout/")
    request.session = SimpleNamespace(session_key="laptop-session")
    await database_sync_to_async(user_logged_out.send)(
        sender=type(alice), request=request, user=alice
    )

    assert await laptop.receive_output(timeout=2) == {"type": "websocket.close", "code": 4401}
    assert await phone.receive_nothing(timeout=0.2)
    await phone.disconnect()


@pytest.mark.parametrize("change", ["password", "deactivate"])
async def test_a_password_change_or_deactivation_closes_every_socket_of_the_user(change):
    alice, _ = await _user_with_account("alice's")
    bob, _ = await _user_with_account("bob's")
    alices = await _connect_with_session(alice, "alice-session")
    bobs = await _connect_with_session(bob, "bob-session")

    @database_sync_to_async
    def apply():
        if change == "password":
            alice.set_password("a-new-long-password-123")
        else:
            alice.is_active = False
        alice.save()
        bob.last_login = None
        bob.save()  # a change that touches no credential closes nothing

    await apply()

    assert await alices.receive_output(timeout=2) == {"type": "websocket.close", "code": 4401}
    assert await bobs.receive_nothing(timeout=0.2)
    await bobs.disconnect()


async def test_an_idle_socket_outlives_the_redis_layers_blocking_receive(settings):
    """channels_redis blocks on Redis for 5 s per receive; with redis-py 8's default
    5 s socket timeout every idle receive raised TimeoutError (the dashboard's socket
    closed with 1011 every ~6 s). Idle for 7 s, the receive must simply still wait."""
    import uuid

    from channels_redis.core import RedisChannelLayer

    from trading_site.settings.base import redis_settings

    layers = redis_settings(settings.REDIS_URL)["CHANNEL_LAYERS"]
    layers["default"]["CONFIG"]["prefix"] = f"test-idle-{uuid.uuid4().hex[:12]}"
    layer = RedisChannelLayer(**layers["default"]["CONFIG"])
    channel = await layer.new_channel()

    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(channel), timeout=7)
    await layer.flush()


@database_sync_to_async
def _stored_session(user, last_active: float):
    """A real stored session logging ``user`` in, last active at ``last_active``."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from common.sessions import LAST_ACTIVITY

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "common.backends.BoundedModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session[LAST_ACTIVITY] = last_active
    session.create()
    return SessionStore(session_key=session.session_key)


async def _connect_to_session(user, session):
    communicator = WebsocketCommunicator(DashboardConsumer.as_asgi(), "/ws/dashboard/")
    communicator.scope["user"] = user
    communicator.scope["session"] = session
    await database_sync_to_async(session.load)()
    return communicator


async def test_a_socket_closes_when_its_session_goes_idle(settings):
    import time

    settings.SESSION_IDLE_SECONDS = 3600
    alice, _ = await _user_with_account("alice's")
    session = await _stored_session(alice, time.time() - 3600 + 1)  # idle in 1 s
    communicator = await _connect_to_session(alice, session)
    connected, _ = await communicator.connect()
    assert connected
    await communicator.receive_json_from()  # hello

    assert await communicator.receive_output(timeout=10) == {
        "type": "websocket.close",
        "code": 4401,
    }


async def test_a_socket_of_a_session_kept_active_outlives_its_first_deadline(settings):
    import time

    from common.sessions import LAST_ACTIVITY

    settings.SESSION_IDLE_SECONDS = 3600
    alice, _ = await _user_with_account("alice's")
    session = await _stored_session(alice, time.time() - 3600 + 2)  # idle in 2 s
    communicator = await _connect_to_session(alice, session)
    connected, _ = await communicator.connect()
    assert connected
    await communicator.receive_json_from()  # hello

    @database_sync_to_async
    def active_in_another_tab():
        session[LAST_ACTIVITY] = time.time() - 3600 + 6  # idle in 6 s now
        session.save()

    await active_in_another_tab()

    # Past the deadline the socket started with, it re-read the session and stays ...
    assert await communicator.receive_nothing(timeout=4)
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from() == {"event": "pong", "payload": {}}
    # ... until the new one.
    assert await communicator.receive_output(timeout=10) == {
        "type": "websocket.close",
        "code": 4401,
    }


async def test_a_socket_of_an_idle_or_ended_session_is_refused_or_closed(settings):
    import time

    settings.SESSION_IDLE_SECONDS = 3600
    alice, _ = await _user_with_account("alice's")
    idle = await _stored_session(alice, time.time() - 3601)
    ending = await _stored_session(alice, time.time() - 3600 + 1)

    refused = await _connect_to_session(alice, idle)
    assert await refused.connect() == (False, 4401)

    # Logged out elsewhere meanwhile (the row deleted): closed at the deadline too, though
    # the socket's logout message went astray.
    closing = await _connect_to_session(alice, ending)
    connected, _ = await closing.connect()
    assert connected
    await closing.receive_json_from()  # hello
    await database_sync_to_async(ending.delete)()
    assert await closing.receive_output(timeout=10) == {"type": "websocket.close", "code": 4401}
