from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.jobs import TOO_MANY_JOBS, throttled_when_busy
from accounts.selectors import account_list
from common.api import IntLookupMixin
from common.exceptions import NotFound
from orders.api.serializers import OrderOutput
from orders.models import Fill
from orders.services.common import user_actor
from positions import selectors, services
from positions.api.filters import BalanceFilter, PositionFilter
from positions.api.serializers import (
    AccountQuery,
    BalanceOutput,
    BalanceSnapshotOutput,
    ChartOutput,
    ChartQuery,
    CloseAllInput,
    DriftOutput,
    EquityOutput,
    PerformanceOutput,
    PortfolioOutput,
    PositionOutput,
    SyncJobOutput,
)
from positions.models import Balance, Drift, Position


def _user_account(user, account_id):
    account = account_list(user=user).filter(pk=account_id).first()
    if account is None:
        raise NotFound(f"No account {account_id}.")
    return account


def _account_filter(params) -> int | None:
    """The optional ``account`` query parameter of the views that are not FilterSet lists."""
    query = AccountQuery(data=params)
    query.is_valid(raise_exception=True)
    return query.validated_data.get("account")


class PositionViewSet(
    IntLookupMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Positions on the requesting user's accounts."""

    serializer_class = PositionOutput
    # The model, for the schema generator (get_queryset() needs a user to scope by).
    queryset = Position.objects.none()
    filterset_class = PositionFilter

    def get_queryset(self):
        return selectors.position_list(user=self.request.user)

    @extend_schema(request=None, responses={202: OrderOutput, 409: None, 503: None})
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        """Close with a reduce-only market order; answers with that order."""
        order = services.position_close(
            position=self.get_object(), actor=user_actor(request.user), created_by=request.user
        )
        return Response(OrderOutput(order).data, status=202)

    # Answers every order it placed, unpaged, as the schema says (no list parameters).
    @extend_schema(request=CloseAllInput, responses={202: OrderOutput(many=True), 503: None})
    @action(
        detail=False,
        methods=["post"],
        url_path="close-all",
        pagination_class=None,
        filter_backends=[],
    )
    def close_all(self, request):
        data = CloseAllInput(data=request.data)
        data.is_valid(raise_exception=True)
        account = _user_account(request.user, data.validated_data["account"])
        orders = services.positions_close_all(
            account=account, actor=user_actor(request.user), created_by=request.user
        )
        return Response(OrderOutput(orders, many=True).data, status=202)

    @extend_schema(
        request=CloseAllInput,
        responses={202: SyncJobOutput, 429: TOO_MANY_JOBS},
        description="Sync now: a worker reads the account's positions and balances from the "
        "exchange (a sync already queued or running is joined). Answers at once. What it "
        "finds is pushed as `position.updated` / `balance.updated`, is in "
        "`GET /api/positions/?account=` and `GET /api/balances/?account=`, and the "
        "account's `sync_states` (`positions`, `balances`) show when it ran and any error.",
    )
    @action(detail=False, methods=["post"], pagination_class=None, filter_backends=[])
    def sync(self, request):
        data = CloseAllInput(data=request.data)
        data.is_valid(raise_exception=True)
        account = _user_account(request.user, data.validated_data["account"])
        with throttled_when_busy():
            job = services.account_sync_start(account=account, user_id=request.user.pk)
        return Response(
            SyncJobOutput(
                {"account": account.pk, "status": "running", "requested_at": job.requested_at}
            ).data,
            status=202,
        )


class BalanceViewSet(IntLookupMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = BalanceOutput
    # The model, for the schema generator (get_queryset() needs a user to scope by).
    queryset = Balance.objects.none()
    pagination_class = None
    filterset_class = BalanceFilter

    def get_queryset(self):
        return selectors.balance_list(user=self.request.user)

    @extend_schema(parameters=[AccountQuery], responses={200: BalanceSnapshotOutput(many=True)})
    @action(detail=False, methods=["get"], filter_backends=[])
    def history(self, request):
        snapshots = selectors.balance_history(
            user=request.user, account_id=_account_filter(request.query_params)
        )
        page = self.paginate_queryset(snapshots)
        return Response(
            BalanceSnapshotOutput(page if page is not None else snapshots[:500], many=True).data
        )


class DriftViewSet(IntLookupMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = DriftOutput
    # The model, for the schema generator (get_queryset() needs a user to scope by).
    queryset = Drift.objects.none()

    def get_queryset(self):
        return selectors.drift_list(user=self.request.user)


class PortfolioView(APIView):
    @extend_schema(
        responses={200: PortfolioOutput},
        description="Valued at the cached last prices, never waiting for the exchange: "
        "where a venue's prices are not cached, a worker fetches them, its assets are "
        "unvalued meanwhile and `prices_pending` is true (ask again in a second).",
    )
    def get(self, request):
        cold: list = []
        portfolio = selectors.portfolio_summary(user=request.user, cold=cold)
        pending = services.prices_refresh_start(accounts=cold)
        return Response(PortfolioOutput(portfolio, context={"prices_pending": pending}).data)


class PerformanceView(APIView):
    @extend_schema(parameters=[AccountQuery], responses={200: PerformanceOutput})
    def get(self, request):
        account_id = _account_filter(request.query_params)
        if account_id is not None:
            _user_account(request.user, account_id)
        return Response(selectors.performance(user=request.user, account_id=account_id))


class ChartView(APIView):
    """Candles of a symbol on one of the user's accounts, with that account's fills."""

    @extend_schema(
        parameters=[ChartQuery],
        responses={
            200: ChartOutput,
            202: OpenApiResponse(
                ChartOutput,
                description="No candles yet: a worker is fetching them (`refreshing`); "
                "ask again after Retry-After.",
            ),
            429: TOO_MANY_JOBS,
            503: None,
        },
        description="Candles the platform keeps (market data), or from a cache a worker "
        "fills - the request never waits for the exchange. Older ones are shown while "
        "newer ones are fetched (`refreshing`, `candles_as_of`).",
    )
    def get(self, request):
        query = ChartQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        account = _user_account(request.user, query.validated_data["account"])
        symbol = query.validated_data["symbol"]
        timeframe = query.validated_data["timeframe"]
        limit = query.validated_data["limit"]
        with throttled_when_busy():
            candles = services.candles_read(
                account=account,
                symbol=symbol,
                timeframe=timeframe,
                limit=limit,
                user_id=request.user.pk,
            )
        fills = Fill.objects.filter(account=account, symbol=symbol).order_by("-exchange_ts")[:500]
        answer = Response(
            ChartOutput(
                {
                    "account": account.pk,
                    "symbol": symbol,
                    "timeframe": timeframe,
                    "candles": candles.rows or [],
                    "candles_as_of": candles.fetched_at,
                    "refreshing": candles.refreshing,
                    "fills": list(reversed(fills)),
                }
            ).data,
            status=200 if candles.rows is not None else 202,
        )
        if candles.rows is None:
            answer["Retry-After"] = "1"
        return answer


class EquityView(APIView):
    """Equity at every balance snapshot, in the portfolio's reference asset."""

    @extend_schema(parameters=[AccountQuery], responses={200: EquityOutput})
    def get(self, request):
        account_id = _account_filter(request.query_params)
        if account_id is not None:
            _user_account(request.user, account_id)
        points = selectors.equity_points(user=request.user, account_id=account_id)
        return Response(
            EquityOutput(
                {
                    "reference": settings.PORTFOLIO_REFERENCE_ASSET,
                    "points": [{"time": t, "equity": v} for t, v in points],
                }
            ).data
        )
