"""One exception handler for the API: domain errors become clear 4xx/503 answers."""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, serializers
from rest_framework.fields import SkipField
from rest_framework.relations import PKOnlyObject, RelatedField
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from common.decimal import normalize
from common.exceptions import ApplicationError


def exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        body = {"detail": exc.message, "code": exc.code}
        if exc.extra:
            body.update(exc.extra)
        return Response(body, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        exc = exceptions.ValidationError(detail=detail)
    return drf_exception_handler(exc, context)


class StrictInput:
    """For input serializers: a field the serializer does not declare is a 400 naming
    it, not silently dropped - a misspelt ``stop_los_price`` or an unsupported
    ``leverage`` would otherwise place an order other than the one meant. Mix in before
    the serializer class: ``class OrderCreateInput(StrictInput, serializers.Serializer)``.
    Names in ``extra_known`` are let through to the serializer's own validation."""

    extra_known: tuple[str, ...] = ()

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            known = set(self.fields) | set(self.extra_known)
            unknown = sorted(str(name) for name in data if name not in known)
            if unknown:
                writable = (name for name, field in self.fields.items() if not field.read_only)
                accepted = ", ".join(sorted(writable))
                raise exceptions.ValidationError(
                    {
                        name: [f"Unknown field {name!r}: not accepted here (fields: {accepted})."]
                        for name in unknown
                    }
                )
        return super().to_internal_value(data)


class IntLookupMixin:
    """Viewsets whose ids are integers: ``<int:pk>`` in the path (with SimpleRouter's
    use_regex_path=False), so a non-number is a 404 and the schema types it."""

    lookup_value_converter = "int"


class CachedFieldsSerializer(serializers.ModelSerializer):
    """A read-only output serializer that introspects its model once per class.

    ModelSerializer rebuilds its fields from the model's metadata for every instance -
    about 2 ms for an order, paid on every API answer and every dashboard push. The
    unbound fields are built once and deep-copied (each copy is re-instantiated from its
    arguments, so no state is shared between instances).

    Rendering reads each plain model field straight off the instance: DRF's generic
    ``get_attribute`` (a nested source walk, mapping and callable checks, a stand-in
    object for a related id) costs more than rendering the value. What each field does
    with the value is DRF's own ``to_representation``; any other field (a method, a
    nested serializer, a dotted source) goes through DRF as usual.
    """

    def get_fields(self):
        cls = type(self)
        prototype = cls.__dict__.get("_field_prototype")
        if prototype is None:
            prototype = super().get_fields()
            cls._field_prototype = prototype
        return copy.deepcopy(prototype)

    def to_representation(self, instance):
        plans = self.__dict__.setdefault("_plans", {})
        plan = plans.get(type(instance))
        if plan is None:
            plan = plans[type(instance)] = [
                (field, _model_attname(type(instance), field)) for field in self._readable_fields
            ]
        ret = {}
        for field, (attname, is_id) in plan:
            if attname is None:
                # As Serializer.to_representation does it.
                try:
                    attribute = field.get_attribute(instance)
                except SkipField:
                    continue
                check_for_none = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
                value = None if check_for_none is None else field.to_representation(attribute)
            else:
                value = getattr(instance, attname)
                if value is not None and not is_id:
                    value = field.to_representation(value)
            ret[field.field_name] = value
        return ret


def _model_attname(model, field) -> tuple[str | None, bool]:
    """(attribute, is_id): where ``field`` of a ModelSerializer reads its value on an
    instance of ``model`` when that is a plain attribute - a concrete column, or the id
    column of a foreign key rendered as that id - else (None, False)."""
    if len(field.source_attrs) != 1 or not hasattr(model, "_meta"):
        return None, False
    try:
        model_field = model._meta.get_field(field.source_attrs[0])
    except FieldDoesNotExist:
        return None, False
    if not model_field.concrete or model_field.name != field.source_attrs[0]:
        return None, False
    if model_field.is_relation:
        # A foreign key (or one-to-one) DRF renders as the related object's id, which the
        # instance holds in its id column.
        if type(field) is serializers.PrimaryKeyRelatedField and field.pk_field is None:
            return model_field.attname, True
        return None, False
    if isinstance(field, serializers.BaseSerializer | RelatedField):
        return None, False
    return model_field.attname, False


_representers = threading.local()


def represent(serializer_class, instance) -> dict:
    """``serializer_class(instance).data``, with one bound serializer per class and thread.

    Pushes to the dashboard serialize every order update; binding a serializer's fields
    costs more than rendering one row, and to_representation keeps no state between
    calls, so the bound serializer is reused.
    """
    cache = getattr(_representers, "by_class", None)
    if cache is None:
        cache = _representers.by_class = {}
    serializer = cache.get(serializer_class)
    if serializer is None:
        serializer = cache[serializer_class] = serializer_class()
    return serializer.to_representation(instance)


def not_found(request, exception=None):
    """The site's 404 view (``handler404``): under /api/ a JSON answer like every other API
    error - a path no route matches, such as ``/api/orders/abc/`` for an id that is no
    number, was Django's HTML page, which an API client cannot read."""
    from django.http import JsonResponse
    from django.views.defaults import page_not_found

    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)


def client_ip(request) -> str:
    """The address the request came from, as far as we can trust it.

    Behind TRUSTED_PROXY_COUNT proxies (the production load balancer), the client is the
    address that many hops from the right of X-Forwarded-For - the part our own proxies
    wrote; anything left of it the client could have forged.
    """
    from django.conf import settings

    hops = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if hops > 0 and forwarded:
        chain = [part.strip() for part in forwarded.split(",") if part.strip()]
        if len(chain) >= hops:
            return chain[-hops]
    return request.META.get("REMOTE_ADDR", "")


IDEMPOTENCY_HEADER = "Idempotency-Key"


def idempotency_key(request) -> str | None:
    """The request's Idempotency-Key, or None. A key holding a control character (NUL
    among them, which PostgreSQL cannot store: a 500) is a 400 naming the header."""
    key = request.headers.get(IDEMPOTENCY_HEADER) or None
    if key is not None and not key.isprintable():
        raise exceptions.ValidationError(
            {IDEMPOTENCY_HEADER: ["Printable characters only, no control characters."]}
        )
    return key


def json_ready(value):
    """Plain JSON values for audit rows and API answers: Decimals as exact strings, times
    in ISO 8601, durations in seconds, sets sorted into lists."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, frozenset | set):
        return [json_ready(v) for v in sorted(value)]
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, Decimal):
        # Plain digits, never exponent notation: str() gives "0E+18" for a zero computed
        # at high precision (a profit factor with no wins), and no reader wants that.
        return format(normalize(value), "f")
    if isinstance(value, timedelta):
        return value.total_seconds()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
