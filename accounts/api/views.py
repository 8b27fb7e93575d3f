from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts import selectors, services
from accounts.api.jobs import TOO_MANY_JOBS, throttled_when_busy
from accounts.api.serializers import (
    AccountCreateInput,
    AccountOutput,
    AccountUpdateInput,
    AlertOutput,
    ConnectionTestOutput,
)
from accounts.models import Alert, ExchangeAccount
from common.api import IntLookupMixin
from common.exceptions import NotFound


class AccountViewSet(
    IntLookupMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The requesting user's exchange accounts. Credentials are write-only."""

    serializer_class = AccountOutput
    # The model, for the schema generator (get_queryset() needs a user to scope by).
    queryset = ExchangeAccount.objects.none()

    def get_queryset(self):
        return selectors.account_list(user=self.request.user)

    @extend_schema(request=AccountCreateInput, responses={201: AccountOutput, 409: None})
    def create(self, request):
        data = AccountCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        account = services.account_create(owner=request.user, **data.validated_data)
        account = self.get_queryset().get(pk=account.pk)
        return Response(AccountOutput(account).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=AccountUpdateInput, responses={200: AccountOutput, 409: None})
    def partial_update(self, request, pk=None):
        account = self.get_object()
        data = AccountUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.account_update(account=account, **data.validated_data)
        return Response(AccountOutput(self.get_queryset().get(pk=account.pk)).data)

    @extend_schema(request=None, responses={200: AccountOutput})
    @action(detail=True, methods=["post"])
    def deactivate(self, request, pk=None):
        account = services.account_deactivate(account=self.get_object())
        return Response(AccountOutput(self.get_queryset().get(pk=account.pk)).data)

    @extend_schema(
        methods=["POST"],
        request=None,
        responses={202: ConnectionTestOutput, 429: TOO_MANY_JOBS},
        description="Test the stored keys: a worker loads the markets, the balance and the "
        "key's permissions, and records the result on the account. Answers at once with "
        "the test running (a test already queued or running is joined, not repeated); "
        "GET this path until its status is `done`.",
    )
    @extend_schema(
        methods=["GET"],
        responses={200: ConnectionTestOutput, 404: None},
        description="The last connection test: `running`, or `done` with its result. 404 "
        "when none was asked for within the hour, or the key changed since.",
    )
    @action(detail=True, methods=["get", "post"])
    def test(self, request, pk=None):
        account = self.get_object()
        if request.method == "POST":
            with throttled_when_busy():
                services.account_connection_test_start(account=account, user_id=request.user.pk)
        tested = selectors.connection_test_status(account=account)
        if tested is None:
            raise NotFound("No connection test of this account within the last hour: POST here.")
        return Response(
            ConnectionTestOutput(tested).data,
            status=status.HTTP_202_ACCEPTED if request.method == "POST" else status.HTTP_200_OK,
        )


class AlertViewSet(
    IntLookupMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Alerts on the requesting user's accounts: what a person must look at."""

    serializer_class = AlertOutput
    # The model, for the schema generator (get_queryset() needs a user to scope by).
    queryset = Alert.objects.none()

    def get_queryset(self):
        return selectors.alert_list(user=self.request.user)

    @extend_schema(request=None, responses={200: AlertOutput})
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        alert = services.alert_acknowledge(alert=self.get_object(), user=request.user)
        return Response(AlertOutput(alert).data)
