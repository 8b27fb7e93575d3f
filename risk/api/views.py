from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import account_list
from common.api import IntLookupMixin
from common.exceptions import NotFound, PermissionDenied
from orders.services.common import user_actor
from risk import services
from risk.api.serializers import (
    BreakerResetInput,
    BreakerResetOutput,
    KillSwitchInput,
    KillSwitchOutput,
    RiskDecisionOutput,
    RiskEventOutput,
    RiskLimitSerializer,
    RiskStateOutput,
    RiskStatesOutput,
)
from risk.models import GlobalRiskState, RiskDecision, RiskEvent, RiskLimit, RiskState


def _account(user, account_id):
    account = account_list(user=user).filter(pk=account_id).first()
    if account is None:
        raise NotFound(f"No account {account_id}.")
    return account


class RiskLimitViewSet(IntLookupMixin, viewsets.ModelViewSet):
    serializer_class = RiskLimitSerializer
    # The model, for the schema generator (get_queryset() needs a user to scope by).
    queryset = RiskLimit.objects.none()

    def get_queryset(self):
        return RiskLimit.objects.filter(owner=self.request.user)

    def perform_create(self, serializer):
        serializer.save(owner=self.request.user)


class RiskDecisionViewSet(
    IntLookupMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = RiskDecisionOutput
    # The model, for the schema generator (get_queryset() needs a user to scope by).
    queryset = RiskDecision.objects.none()

    def get_queryset(self):
        return RiskDecision.objects.filter(account__owner=self.request.user)


class RiskEventViewSet(IntLookupMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = RiskEventOutput
    # The model, for the schema generator (get_queryset() needs a user to scope by).
    queryset = RiskEvent.objects.none()

    def get_queryset(self):
        return RiskEvent.objects.filter(account__owner=self.request.user)


class RiskStateView(APIView):
    @extend_schema(responses={200: RiskStatesOutput})
    def get(self, request):
        states = RiskState.objects.filter(account__owner=request.user)
        global_state = GlobalRiskState.objects.filter(pk=1).first()
        return Response(
            {
                "global_kill_switch": bool(global_state and global_state.kill_switch),
                "accounts": RiskStateOutput(states, many=True).data,
            }
        )


class KillSwitchView(APIView):
    @extend_schema(request=KillSwitchInput, responses={200: KillSwitchOutput})
    def post(self, request):
        data = KillSwitchInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        account = None
        if values.get("account"):
            account = _account(request.user, values["account"])
        elif not request.user.is_staff:
            raise PermissionDenied(
                "Only staff may switch the global kill switch; name an account to switch yours."
            )
        services.kill_switch_set(
            on=values["on"],
            actor=user_actor(request.user),
            reason=values.get("reason", ""),
            account=account,
            panic=values["panic"],
        )
        return Response({"account": account.pk if account else None, "on": values["on"]})


class BreakerResetView(APIView):
    @extend_schema(request=BreakerResetInput, responses={200: BreakerResetOutput})
    def post(self, request):
        data = BreakerResetInput(data=request.data)
        data.is_valid(raise_exception=True)
        account = _account(request.user, data.validated_data["account"])
        services.breaker_reset(
            account=account, actor=user_actor(request.user), reason=data.validated_data["reason"]
        )
        return Response({"account": account.pk, "breaker": ""})
