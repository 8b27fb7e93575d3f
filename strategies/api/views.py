from __future__ import annotations

import uuid

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import IDEMPOTENCY_HEADER, IntLookupMixin, client_ip, idempotency_key
from common.db import one_row
from common.exceptions import PermissionDenied
from common.throttling import WebhookSourceThrottle
from positions.api.serializers import PerformanceOutput
from strategies import services
from strategies.allowlist import address_allowed
from strategies.api.serializers import (
    SignalInput,
    SignalOutput,
    StrategyOutput,
    WebhookInput,
    WebhookOutput,
)
from strategies.models import Signal, SignalSource, Strategy

# TradingView's published sender addresses (www.tradingview.com/support/solutions/
# 43000529348): the default allowlist of a webhook source that switches the check on.
TRADINGVIEW_IPS = ["52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7"]
REFUSED = "Alert refused: unknown webhook, sender not allowed, or wrong secret."


class SignalViewSet(
    IntLookupMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Signals of the requesting user; POST sends one (Idempotency-Key: one signal)."""

    serializer_class = SignalOutput
    # The model, for the schema generator (get_queryset() needs a user to scope by).
    queryset = Signal.objects.none()

    def get_queryset(self):
        return Signal.objects.filter(source__owner=self.request.user).prefetch_related(
            "orders", "decisions"
        )

    @extend_schema(
        request=SignalInput,
        responses={201: SignalOutput, 200: SignalOutput, 422: None},
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="One signal per key (the first 100 characters): the same key "
                "with the same body returns that signal (200); with a different body it is "
                "a 422.",
            )
        ],
    )
    def create(self, request):
        data = SignalInput(data=request.data)
        data.is_valid(raise_exception=True)
        external_id = idempotency_key(request) or uuid.uuid4().hex
        signal, created = services.signal_ingest(
            source=services.api_source(user=request.user),
            external_id=external_id[:100],
            data=data.validated_data,
            same_body=True,
        )
        return Response(
            SignalOutput(signal).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class TradingViewWebhook(APIView):
    """``POST /api/webhooks/tradingview/<source>/``: a TradingView alert becomes a signal.

    Authenticated by the source's secret in the body; only validates, stores and queues,
    so it answers well inside TradingView's 3 seconds.
    """

    authentication_classes = []
    permission_classes = [permissions.AllowAny]
    # Per source, before anything is read: a flood costs one INCR per alert (429 with
    # Retry-After past WEBHOOK_RATE_PER_SOURCE).
    throttle_classes = [WebhookSourceThrottle]

    @extend_schema(
        request=WebhookInput, responses={202: WebhookOutput, 200: WebhookOutput, 403: None}
    )
    def post(self, request, source_id: int):
        source = one_row(
            SignalSource, "id = %s AND kind = %s", [source_id, SignalSource.Kind.WEBHOOK]
        )
        # A missing source, an address off the allowlist and a wrong secret answer alike:
        # the answer tells a prober nothing about which ids exist or what is checked.
        if source is None:
            raise PermissionDenied(REFUSED)
        if source.ip_allowlist_enabled and not address_allowed(
            client_ip(request), source.allowed_ips or TRADINGVIEW_IPS
        ):
            raise PermissionDenied(REFUSED)
        if not isinstance(request.data, dict) or not services.source_check_secret(
            source=source, secret=request.data.get("secret")
        ):
            raise PermissionDenied(REFUSED)
        data = WebhookInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        values.pop("secret")
        external_id = values.pop("id", None) or services.alert_fingerprint(request.data)
        values.pop("ticker", None)
        values["payload"] = {k: v for k, v in request.data.items() if k != "secret"}
        signal, created = services.signal_ingest(
            source=source, external_id=external_id, data=values
        )
        return Response(
            {"signal": signal.pk, "status": signal.status, "duplicate": not created},
            status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK,
        )


class StrategyViewSet(
    IntLookupMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The requesting user's strategies."""

    serializer_class = StrategyOutput
    # The model, for the schema generator (get_queryset() needs a user to scope by).
    queryset = Strategy.objects.none()

    def get_queryset(self):
        return Strategy.objects.filter(owner=self.request.user)

    @extend_schema(responses={200: PerformanceOutput})
    @action(detail=True, methods=["get"])
    def performance(self, request, pk=None):
        """Performance of the strategy, measured on its own account: round trips of that
        account's closed positions and its equity curve. Strategies that share an account
        cannot be told apart by position, so each strategy needs an account of its own."""
        from common.exceptions import ValidationFailed
        from positions.selectors import performance

        strategy = self.get_object()
        if strategy.account_id is None:
            raise ValidationFailed(
                f"Strategy {strategy.name!r} has no account of its own: give it one to "
                "measure its performance."
            )
        return Response(performance(user=request.user, account_id=strategy.account_id))
