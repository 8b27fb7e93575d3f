from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

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

    @extend_schema(request=CloseAllInput, responses={200: PositionOutput(many=True)})
    @action(detail=False, methods=["post"], pagination_class=None, filter_backends=[])
    def sync(self, request):
        """Sync now: the account's positions and balances from the exchange."""
        data = CloseAllInput(data=request.data)
        data.is_valid(raise_exception=True)
        account = _user_account(request.user, data.validated_data["account"])
        services.account_sync(account=account)
        positions = selectors.position_list(
            user=request.user, filters={"account": account.pk, "status": "open"}
        )
        return Response(PositionOutput(positions, many=True).data)


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
    @extend_schema(responses={200: PortfolioOutput})
    def get(self, request):
        portfolio = selectors.portfolio_summary(user=request.user)
        return Response(PortfolioOutput(portfolio).data)


class PerformanceView(APIView):
    @extend_schema(parameters=[AccountQuery], responses={200: PerformanceOutput})
    def get(self, request):
        account_id = _account_filter(request.query_params)
        if account_id is not None:
            _user_account(request.user, account_id)
        return Response(selectors.performance(user=request.user, account_id=account_id))


class ChartView(APIView):
    """Candles of a symbol on one of the user's accounts, with that account's fills."""

    @extend_schema(parameters=[ChartQuery], responses={200: ChartOutput, 503: None})
    def get(self, request):
        query = ChartQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        account = _user_account(request.user, query.validated_data["account"])
        symbol = query.validated_data["symbol"]
        timeframe = query.validated_data["timeframe"]
        limit = query.validated_data["limit"]
        candles = selectors.candles(
            account=account, symbol=symbol, timeframe=timeframe, limit=limit
        )
        fills = Fill.objects.filter(account=account, symbol=symbol).order_by("-exchange_ts")[:500]
        return Response(
            ChartOutput(
                {
                    "account": account.pk,
                    "symbol": symbol,
                    "timeframe": timeframe,
                    "candles": candles,
                    "fills": list(reversed(fills)),
                }
            ).data
        )


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
