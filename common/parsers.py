"""The API's JSON parser: DRF's, with the inputs it let through to a 500 refused as 400s.

- Nesting. ``json.load`` recurses once per level: a body of ten thousand ``[`` raised
  RecursionError, which DRF does not catch (it is no ValueError), so any JSON endpoint -
  the webhook too, before its secret is checked - answered 500. Bodies shallower than the
  recursion limit but still deep fail later, in whatever walks them (a JSONField's
  storage, the audit's copy). No input of this API is more than a few levels deep.
- NUL and lone surrogates in strings (keys or values). PostgreSQL's text and jsonb
  cannot hold U+0000, and a lone surrogate cannot be encoded as UTF-8: either reached
  the database as a 500 (a risk limit's ``allowed_symbols``, a webhook's stored payload).
  Serializer CharFields refuse them already; JSON fields and raw payloads did not.
"""

from __future__ import annotations

import codecs
import io
import re

from rest_framework import parsers
from rest_framework.exceptions import ParseError

MAX_DEPTH = 32
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# In a JSON text, U+0000 and lone surrogates can only come from \u escapes: a raw NUL is
# an invalid control character to the parser, a raw surrogate invalid UTF-8. A body with
# no such escape needs no look at its strings (escaped backslashes only make it look).
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
_CONTAINERS = (dict, list)


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        try:
            data = super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError:
            raise ParseError(_too_deep()) from None
        encoding = (parser_context or {}).get("encoding", "utf-8")
        utf8 = codecs.lookup(encoding).name == "utf-8"
        check_json(data, strings=not utf8 or _SUSPECT_ESCAPE.search(raw) is not None)
        return data


def _too_deep() -> str:
    return f"JSON parse error - nested more than {MAX_DEPTH} levels deep."


def check_json(data, *, strings: bool = True) -> None:
    """ParseError unless ``data`` (parsed JSON) is at most MAX_DEPTH containers deep and,
    with ``strings``, its strings (keys and values) hold no NUL or lone surrogate.

    Iterative, so the check itself never recurses; items other than containers (and
    strings, when checked) are only looked at, and a location is spelt out only for an
    error - on a large body this costs less than parsing it did.
    """
    if strings and isinstance(data, str):
        _check_string(data, ())
    if type(data) not in _CONTAINERS:
        return
    pending = [(data, 1, ())]
    while pending:
        value, depth, path = pending.pop()
        if depth > MAX_DEPTH:
            raise ParseError(_too_deep())
        if strings:
            items = value.items() if type(value) is dict else enumerate(value)
            for key, item in items:
                if type(key) is str:
                    _check_string(key, (*path, key))
                if type(item) is str:
                    _check_string(item, (*path, key))
                elif type(item) in _CONTAINERS:
                    pending.append((item, depth + 1, (*path, key)))
        else:
            for item in value.values() if type(value) is dict else value:
                if type(item) in _CONTAINERS:
                    pending.append((item, depth + 1, path))


def _check_string(value: str, path: tuple) -> None:
    if match := _UNSTORABLE.search(value):
        what = "NUL (\\u0000)" if match.group() == "\x00" else "lone surrogate"
        place = f" (at {_where(path)})" if path else ""
        raise ParseError(f"JSON strings may not contain a {what} character{place}.")


def _where(path: tuple) -> str:
    where = "".join(f"[{key}]" if isinstance(key, int) else f".{key}" for key in path)
    # The path may itself hold the character refused: say where without echoing it.
    return _UNSTORABLE.sub("?", where.removeprefix("."))[:200]
