"""The OpenAPI schema's error answers, documented the same way on every operation.

drf-spectacular documents the answers a view's ``extend_schema`` names, usually only the
successful one, so a client (or a schema-driven test) met 400, 401, 404 and 429 answers
the schema never mentioned. Here each operation gets the errors that can happen to it,
from what the operation is:

- 400: it takes a body or query/header parameters (ours: a field or parameter that is
  not what it says; DRF's: unparsable JSON).
- 401: it needs a login (DRF answers 401 to a missing or wrong token).
- 403: it changes something (CSRF for sessions, a refusal: trading off, a kill switch,
  a webhook's secret).
- 404: it names an object: an id in the path, an account in the body or query string,
  or a page cursor.
- 429: every request is counted (common/throttling.py).

Codes that only some services raise - 409 (the state forbids it), 422 (an
Idempotency-Key reused with another body), 503 (the exchange did not answer) - are named
where they happen: ``extend_schema(responses={..., 409: None})``. Any error code named
without a body gets the error body here.

Bodies: ApplicationError answers ``{"detail", "code", ...}`` (common/api.py), DRF's own
errors ``{"detail"}``; a 400 from validation names the fields instead.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import ResolvedComponent, force_instance, get_doc

from common.api import IntLookupMixin, StrictInput

ERROR = {
    "type": "object",
    "description": "What went wrong, and for the platform's own refusals a code.",
    "properties": {
        "detail": {"type": "string"},
        "code": {"type": "string"},
    },
    "required": ["detail"],
    # Some refusals name more: the field at fault, the fields that differ.
    "additionalProperties": True,
}
VALIDATION_ERROR = {
    "type": "object",
    "description": (
        "Each field or parameter at fault with its messages, or ``detail`` for a body "
        "that could not be read (and ``code`` for the platform's own refusals)."
    ),
    "additionalProperties": True,
}

DESCRIPTIONS = {
    "400": "Bad input: a field or parameter that is not what it says, or unreadable JSON.",
    "401": "No login: the Authorization token (or session) is missing or wrong.",
    "403": "Refused: not allowed to do this (CSRF, permissions, trading off, wrong secret).",
    "404": "Not found: no such object among the user's.",
    "409": "Conflict: the object's state does not allow it now.",
    "422": "Unprocessable: an Idempotency-Key reused with a different request.",
    "429": "Too many requests: wait Retry-After seconds.",
    "503": "Unavailable: the exchange did not answer; nothing was done.",
}
# Request fields and query parameters that name one of the user's objects: 404 if none.
NAMED_OBJECTS = {"account", "group"}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


# Docstrings of our mixins, for their readers: no description of an operation or a body
# (drf-spectacular takes a class's docstring from its bases when it has none).
MIXIN_DOCS = {get_doc(IntLookupMixin), get_doc(StrictInput)}


class AutoSchema(SpectacularAutoSchema):
    def get_description(self):
        description = super().get_description()
        return "" if description in MIXIN_DOCS else description

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if schema.get("description") in MIXIN_DOCS:
            del schema["description"]
        return schema

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses = operation.setdefault("responses", {})
        for code in self._error_codes(operation):
            existing = responses.get(code)
            if existing is None or "content" not in existing:
                responses[code] = self._error_response(code)
        # Error codes named without a body (``409: None``) get the error body too.
        for code, response in list(responses.items()):
            if code in DESCRIPTIONS and "content" not in response:
                responses[code] = self._error_response(code)
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _error_codes(self, operation) -> set[str]:
        parameters = operation.get("parameters", [])
        located = {p["in"] for p in parameters}
        query = {p["name"] for p in parameters if p["in"] == "query"}
        codes = {"429"}
        if "requestBody" in operation or located & {"query", "header"}:
            codes.add("400")
        if any(requirement for requirement in operation.get("security", [])):
            codes.add("401")
        if self.method in WRITES:
            codes.add("403")
        if "path" in located or "cursor" in query or self._names_an_object(query):
            codes.add("404")
        return codes

    def _names_an_object(self, query: set[str]) -> bool:
        # A list filtered by an account the user does not have is empty, not a 404; a
        # view that looks the account up (a chart, a close-all) answers 404.
        if query & NAMED_OBJECTS and not self._is_list_view():
            return True
        if self.method not in WRITES:
            return False
        serializer = force_instance(self.get_request_serializer())
        return bool(NAMED_OBJECTS & set(getattr(serializer, "fields", {})))

    def _error_response(self, code: str) -> dict:
        name, schema = ("ValidationError", VALIDATION_ERROR) if code == "400" else ("Error", ERROR)
        component = ResolvedComponent(
            name=name, type=ResolvedComponent.SCHEMA, object=name, schema=schema
        )
        self.registry.register_on_missing(component)
        response = {
            "content": {"application/json": {"schema": component.ref}},
            "description": DESCRIPTIONS[code],
        }
        if code == "429":
            response["headers"] = {
                "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}
            }
        return response
