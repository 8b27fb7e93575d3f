"""The dashboard's websocket: authenticated, joins only the groups of the user's own accounts."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from accounts.selectors import account_ids_for_user
from realtime.groups import account_group, user_group


class DashboardConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        account_ids = await database_sync_to_async(account_ids_for_user)(user=user)
        self.groups_joined = [user_group(user.pk)] + [account_group(pk) for pk in account_ids]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.send_json({"event": "hello", "payload": {"accounts": account_ids}})

    async def disconnect(self, code):
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        # The socket is one-way: clients act through the API, never through the socket.
        if content.get("type") == "ping":
            await self.send_json({"event": "pong", "payload": {}})

    async def platform_event(self, message):
        await self.send_json({"event": message["event"], "payload": message["payload"]})
