"""The dashboard's websocket: authenticated, joins only the groups of the user's own accounts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase

from accounts.selectors import account_ids_for_user, account_venue_for_user
from common import sessions
from realtime.groups import account_group, market_group, session_group, user_group

# The socket closes with this when the session behind it ends (as for no login at all).
SESSION_ENDED = 4401


class DashboardConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=SESSION_ENDED)
            return
        session = self.scope.get("session")
        # A real session (tests may give a stand-in with a key only) ends when idle.
        watched = isinstance(session, SessionBase) and bool(session.session_key)
        deadline = None
        if watched:
            deadline = await database_sync_to_async(sessions.idle_deadline)(session)
            if deadline is not None and deadline <= time.time():
                await self.close(code=SESSION_ENDED)
                return
        account_ids = await database_sync_to_async(account_ids_for_user)(user=user)
        self.groups_joined = [user_group(user.pk)] + [account_group(pk) for pk in account_ids]
        if session is not None and session.session_key:
            # Logging out ends this session's sockets, not the user's other sessions'.
            self.groups_joined.append(session_group(session.session_key))
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.send_json({"event": "hello", "payload": {"accounts": account_ids}})
        if watched:
            self.idle_watch = asyncio.create_task(
                self._close_when_idle(session.session_key, user.pk, deadline)
            )

    async def _close_when_idle(self, session_key: str, user_pk, deadline: float | None) -> None:
        """A socket is authenticated once; the session behind it may go idle while it
        streams (no request comes to log it out). At the session's idle deadline, read it
        again: still active elsewhere (another tab's requests moved its stamp) - wait for
        the new deadline; idle, logged out or gone - close, as logging out does."""
        if deadline is None:
            deadline = time.time() + settings.SESSION_IDLE_SECONDS
        while True:
            await asyncio.sleep(max(0.0, deadline - time.time()))
            deadline = await database_sync_to_async(sessions.stored_deadline)(session_key, user_pk)
            if deadline is None or deadline <= time.time():
                await self.close(code=SESSION_ENDED)
                return

    async def disconnect(self, code):
        watch = getattr(self, "idle_watch", None)
        if watch is not None:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        # The socket is one-way: clients act through the API, never through the socket.
        # Anything but a JSON object (binary, malformed, an array, nested past what the
        # parser takes) is ignored, never a crash with a traceback in the log.
        if text_data is None:
            return
        try:
            content = json.loads(text_data)
        except (ValueError, RecursionError):
            return
        if not isinstance(content, dict):
            return
        if content.get("type") == "ping":
            await self.send_json({"event": "pong", "payload": {}})
        elif content.get("type") == "watch":
            await self.watch_market(content.get("account"), content.get("symbol"))

    async def watch_market(self, account_id, symbol) -> None:
        """Follow one market (a market page's chart, book and ticker): the symbol on the
        venue of one of the user's own accounts. One market per socket; anything else
        (another user's account, junk) is ignored."""
        if not isinstance(account_id, int) or not isinstance(symbol, str):
            return
        if not 0 < len(symbol) <= 50 or not symbol.isprintable():
            return
        venue = await database_sync_to_async(account_venue_for_user)(
            user=self.scope["user"], account_id=account_id
        )
        if venue is None:
            return
        group = market_group(venue, symbol)
        previous = getattr(self, "market", None)
        if previous == group:
            return
        if previous is not None:
            await self.channel_layer.group_discard(previous, self.channel_name)
            self.groups_joined.remove(previous)
        await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined.append(group)
        self.market = group
        await self.send_json({"event": "watching", "payload": {"venue": venue, "symbol": symbol}})

    async def platform_event(self, message):
        await self.send_json({"event": message["event"], "payload": message["payload"]})

    async def session_close(self, message):
        await self.close(code=SESSION_ENDED)
