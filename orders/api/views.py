from __future__ import annotations

from django_filters.utils import translate_validation
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.models import ExchangeAccount
from common.api import IDEMPOTENCY_HEADER, IntLookupMixin, idempotency_key, represent
from common.db import one_row
from common.exceptions import NotFound
from common.pagination import CursorPagination
from orders import selectors, services
from orders.api.filters import FillFilter, OrderFilter
from orders.api.serializers import (
    AmendInput,
    CancelAllInput,
    CancelAllOutput,
    FillOutput,
    OrderCreateInput,
    OrderDetailOutput,
    OrderOutput,
)
from orders.models import Fill, Order
from orders.services.brackets import CLOSE_KEY_PREFIX
from orders.services.common import user_actor


class NewestFirst(CursorPagination):
    ordering = ("-created_at", "-id")


def _user_account(user, account_id: int) -> ExchangeAccount:
    # Not account_list(): its sync-state prefetch is for showing accounts, not trading.
    account = one_row(ExchangeAccount, "id = %s AND owner_id = %s", [account_id, user.pk])
    if account is None:
        # Another user's account is indistinguishable from a missing one.
        raise NotFound(f"No account {account_id}.")
    return account


def _parse_filters(params) -> dict:
    """The orders filters of a query string as ``selectors.order_list`` takes them (the
    dashboard's orders page reads the API's parameters, with the API's answers)."""
    filterset = OrderFilter(params, queryset=Order.objects.none())
    if not filterset.is_valid():
        raise translate_validation(filterset.errors)
    filters = {k: v for k, v in filterset.form.cleaned_data.items() if v not in (None, "", [])}
    if "status" in filters:
        filters["status"] = ",".join(filters["status"])
    return filters


class OrderViewSet(
    IntLookupMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Orders on the requesting user's accounts."""

    # The model, for the schema generator (get_queryset() needs a user to scope by).
    queryset = Order.objects.none()
    pagination_class = NewestFirst
    filterset_class = OrderFilter

    def get_queryset(self):
        if self.action == "retrieve":
            return selectors.order_detail_queryset(user=self.request.user)
        return selectors.order_list(user=self.request.user)

    def get_serializer_class(self):
        return OrderDetailOutput if self.action == "retrieve" else OrderOutput

    @extend_schema(
        request=OrderCreateInput,
        responses={201: OrderOutput, 200: OrderOutput, 422: None, 503: None},
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="The same key with the same body returns the same order (200); "
                "with a different body it is a 422.",
            )
        ],
    )
    def create(self, request):
        data = OrderCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        account = _user_account(request.user, values.pop("account"))
        key = idempotency_key(request)
        if key is not None and not (1 <= len(key) <= 100):
            raise serializers.ValidationError({IDEMPOTENCY_HEADER: "1 to 100 characters."})
        if key is not None and key.startswith(CLOSE_KEY_PREFIX):
            raise serializers.ValidationError(
                {IDEMPOTENCY_HEADER: f"keys starting {CLOSE_KEY_PREFIX!r} are the platform's own."}
            )
        order, created = services.order_submit(
            account=account,
            request=services.OrderRequest(**{k: v for k, v in values.items() if v is not None}),
            origin=Order.Origin.API,
            actor=user_actor(request.user),
            created_by=request.user,
            idempotency_key=key,
            same_body=True,
        )
        return Response(
            represent(OrderOutput, order),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(request=None, responses={200: OrderOutput, 409: None})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        order = services.order_cancel(order=self.get_object(), actor=user_actor(request.user))
        return Response(OrderOutput(order).data)

    @extend_schema(
        request=AmendInput,
        responses={202: OrderOutput, 400: None, 403: None, 409: None, 503: None},
    )
    @action(detail=True, methods=["post"])
    def amend(self, request, pk=None):
        """New price and/or amount. Answers with the order that will carry the change: this
        one (modified in place) or its replacement (cancel-replace). An amendment passes
        the risk gate like a new order: refused (403) when trading is halted, the account
        may not trade, or a limit says no."""
        data = AmendInput(data=request.data)
        data.is_valid(raise_exception=True)
        order = services.order_amend(
            order=self.get_object(), actor=user_actor(request.user), **data.validated_data
        )
        return Response(OrderOutput(order).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=CancelAllInput, responses={200: CancelAllOutput})
    @action(detail=False, methods=["post"], url_path="cancel-all")
    def cancel_all(self, request):
        data = CancelAllInput(data=request.data)
        data.is_valid(raise_exception=True)
        account = _user_account(request.user, data.validated_data["account"])
        count = services.order_cancel_all(
            account=account,
            actor=user_actor(request.user),
            symbol=data.validated_data.get("symbol"),
        )
        return Response({"canceled": count})


class FillViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The latest fills on the user's accounts, newest first, a page at a time."""

    queryset = Fill.objects.none()
    serializer_class = FillOutput
    pagination_class = NewestFirst
    filterset_class = FillFilter

    def get_queryset(self):
        return Fill.objects.filter(account__owner=self.request.user)
