from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import IntLookupMixin
from common.exceptions import NotFound
from marketdata import live, selectors, services
from marketdata.api.serializers import (
    BookOutput,
    BookQuery,
    CandleQuery,
    MarketCandleOutput,
    MarketQuery,
    QuoteOutput,
    SubscriptionInput,
    SubscriptionOutput,
    UnsubscribeInput,
    VenueStatusOutput,
)
from marketdata.models import Subscription
from marketdata.venues import venue_of


def _query(serializer_class, request):
    query = serializer_class(data=request.query_params.dict(), context={"request": request})
    query.is_valid(raise_exception=True)
    return query.validated_data


class SubscriptionViewSet(
    IntLookupMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """The requesting user's market-data subscriptions: tickers, candles, books."""

    serializer_class = SubscriptionOutput

    def get_queryset(self):
        return Subscription.objects.filter(owner=self.request.user).order_by("pk")

    @extend_schema(
        request=SubscriptionInput,
        responses={201: SubscriptionOutput, 200: SubscriptionOutput, 503: None},
    )
    def create(self, request):
        """Subscribe. The same stream again is the same subscription (200)."""
        data = SubscriptionInput(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        subscription, created = services.subscription_create(
            owner=request.user, **data.validated_data
        )
        return Response(
            SubscriptionOutput(subscription).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    def perform_destroy(self, instance):
        services.subscriptions_delete(owner=self.request.user, pk=instance.pk)

    @extend_schema(request=UnsubscribeInput, responses={200: dict})
    @action(detail=False, methods=["post"])
    def unsubscribe(self, request):
        """Every subscription of a symbol on the account's venue."""
        data = UnsubscribeInput(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        deleted = services.subscriptions_delete(
            owner=request.user,
            venue=venue_of(data.validated_data["account"]),
            symbol=data.validated_data["symbol"],
        )
        return Response({"deleted": deleted})

    @extend_schema(request=None, responses={200: dict})
    @action(detail=False, methods=["post"])
    def stop(self, request):
        """Pause every subscription of the user."""
        return Response(
            {"stopped": services.subscriptions_set_active(owner=request.user, active=False)}
        )

    @extend_schema(request=None, responses={200: dict})
    @action(detail=False, methods=["post"])
    def start(self, request):
        """Resume every paused subscription of the user."""
        return Response(
            {"started": services.subscriptions_set_active(owner=request.user, active=True)}
        )

    @extend_schema(responses={200: VenueStatusOutput(many=True)})
    @action(detail=False, methods=["get"], pagination_class=None, filter_backends=[])
    def status(self, request):
        """Per venue of the user's subscriptions: the streams' connection, message rate and
        the age of the last message."""
        counts: dict[str, int] = {}
        for venue in self.get_queryset().filter(is_active=True).values_list("venue", flat=True):
            counts[venue] = counts.get(venue, 0) + 1
        found = live.status_read(sorted(counts))
        rows = []
        for venue, count in sorted(counts.items()):
            row = found.get(venue) or {
                "venue": venue,
                "connected": False,
                "streams": 0,
                "messages_per_second": 0.0,
                "last_message_age_ms": None,
            }
            rows.append({**row, "subscriptions": count})
        return Response(VenueStatusOutput(rows, many=True).data)


class CandleViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Stored candles of a symbol on one of the user's accounts' venues, oldest first."""

    serializer_class = MarketCandleOutput

    def get_queryset(self):
        query = _query(CandleQuery, self.request)
        return selectors.candles_range(
            venue=venue_of(query["account"]),
            symbol=query["symbol"],
            timeframe=query["timeframe"],
            start=query.get("start"),
            end=query.get("end"),
        )

    @extend_schema(parameters=[CandleQuery])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)


class TickerView(APIView):
    """The latest ticker of a symbol, with its age (404 when nobody streams it)."""

    @extend_schema(parameters=[MarketQuery], responses={200: QuoteOutput, 404: None})
    def get(self, request):
        query = _query(MarketQuery, request)
        venue = venue_of(query["account"])
        quote = selectors.quote(venue=venue, symbol=query["symbol"])
        if quote is None:
            raise NotFound(f"No ticker of {query['symbol']} on {venue}: subscribe to it first.")
        return Response(QuoteOutput({**quote, "venue": venue}).data)


class BookView(APIView):
    """The top levels of a symbol's book (503 when it is stale, 404 when not streamed)."""

    @extend_schema(parameters=[BookQuery], responses={200: BookOutput, 404: None, 503: None})
    def get(self, request):
        query = _query(BookQuery, request)
        venue = venue_of(query["account"])
        book = selectors.book_top(venue=venue, symbol=query["symbol"], levels=query["levels"])
        if book is None:
            raise NotFound(f"No book of {query['symbol']} on {venue}: subscribe to it first.")
        return Response(BookOutput({**book, "venue": venue}).data)
