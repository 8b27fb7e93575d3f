from __future__ import annotations

from django.conf import settings
from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, mixins, permissions, status, viewsets
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
    TokenCreatedOutput,
    TokenCreateInput,
    TokenOutput,
)
from accounts.models import Alert, ApiToken, ExchangeAccount
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


class TokenViewSet(
    IntLookupMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The requesting user's API tokens - only their first characters, never a key.

    ``POST`` makes one and answers with its key, that once. A logged-in user (dashboard
    session, Swagger UI) makes one for themselves; a script without a login sends
    ``username`` and ``password`` (failed attempts count toward the login lockout, as on
    the login pages). A token cannot make tokens: one that leaked must not outlive its
    revocation through the tokens it made. ``POST <id>/revoke/`` ends one now.
    """

    serializer_class = TokenOutput

    def get_permissions(self):
        if self.action == "create":
            return [permissions.AllowAny()]
        return super().get_permissions()

    def get_queryset(self):
        return selectors.api_token_list(user=self.request.user)

    @extend_schema(request=TokenCreateInput, responses={201: TokenCreatedOutput})
    def create(self, request):
        data = TokenCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        username, password = values.pop("username", None), values.pop("password", None)
        if isinstance(request.auth, ApiToken):
            raise exceptions.PermissionDenied(
                "A token cannot make tokens: log in, or send username and password."
            )
        if username is not None or password is not None:
            user = _password_login(request, username or "", password or "")
        elif request.user.is_authenticated:
            user = request.user
        else:
            raise exceptions.NotAuthenticated("Log in, or send username and password.")
        token, key = services.api_token_create(user=user, **values)
        token.key = key
        return Response(TokenCreatedOutput(token).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: TokenOutput})
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        token = services.api_token_revoke(token=self.get_object(), by=request.user)
        return Response(TokenOutput(token).data)


def _password_login(request, username: str, password: str):
    """The user whose name and password these are, through Django's authentication and
    so through django-axes: a locked-out name or address is a 429 before any password is
    checked, and each failure counts toward the lockout."""
    http_request = request._request  # axes flags the request Django's middleware sees
    user = authenticate(http_request, username=username, password=password)
    if getattr(http_request, "axes_locked_out", False):
        # Our own JSON answer, not django-axes' page (its middleware looks for the flag).
        http_request.axes_locked_out = False
        raise exceptions.Throttled(
            wait=settings.AXES_COOLOFF_TIME.total_seconds(),
            detail="Too many failed logins: try again later.",
        )
    if getattr(http_request, "login_busy", False):
        http_request.login_busy = False  # our JSON answer (common.middleware.LoginBusy...)
        raise exceptions.Throttled(wait=1, detail="Too many logins at once: try again in a moment.")
    if user is None:
        raise exceptions.AuthenticationFailed("Wrong user name or password.")
    return user
