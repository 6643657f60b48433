"""Credentials never leave the process: the one place that masks passwords in URLs, params and messages.

Everything that writes params or a URL (the report, logs, reports/tune.json, error lines) passes the
text through `mask_url` (free text) or `mask_value` (one URL) or the params through `mask_params`.
Masking works on the text, not through SQLAlchemy's parser: that one splits `user:p@ss@host` at the
FIRST '@' (and shows "ss@host" as the host) and echoes the whole URL when it cannot parse it.
"""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, unquote

MASK = "***"

# [scheme://]user:password@host. The password runs to the LAST '@' of the token (an unencoded '@' in a
# password is common), so a path holding '@' is masked too: over-masking only hides text, under-masking
# leaks. Whitespace, quotes and angle brackets end a token (a URL quoted in a message or in HTML).
# `:(?!//)`: the colon of "scheme://" is not a user's colon.
USERINFO = re.compile(
    r"(?P<head>(?:[A-Za-z][A-Za-z0-9+.\-]*://)?[^\s:/@'\"<>]*):(?!//)(?P<password>[^\s'\"<>]*)@")
# The same for one whole value: the password may hold anything, spaces included, up to the last '@',
# as long as what follows (host, port, path) has no space, as in a URL and not in a sentence.
WHOLE = re.compile(r"(?P<head>(?:[A-Za-z][A-Za-z0-9+.\-]*://)?[^\s:/@]*):(?!//)(?P<password>.*)@(?=[^\s@]*\Z)",
                   re.S)
# password=... in a URL's query (postgresql://host/db?password=x) or a libpq "key=value" string.
# One URL: scheme://user:password@rest, split at the LAST '@' (a host never holds one).
CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:/@]*):(?P<password>.*)@(?P<rest>[^@]*)",
                         re.S)
KEY_VALUE = re.compile(r"(?P<key>(?<![\w-])(?:password|passwd|pwd)\s*=\s*)(?P<password>[^\s&;'\"<>]+)", re.I)


def _hide(match: re.Match[str]) -> str:
    return f"{match['head']}:{MASK}@" if match["password"] else match[0]


def mask_url(text: str) -> str:
    """`text` with the password of every URL-looking value in it replaced by ***, parsable or not."""
    return KEY_VALUE.sub(lambda m: f"{m['key']}{MASK}", USERINFO.sub(_hide, text))


def mask_value(value: str) -> str:
    """One value that may be a URL (a storage URL, a param): masked even when its password holds spaces."""
    return mask_url(WHOLE.sub(_hide, value, count=1) if WHOLE.match(value) else value)


def quote_password(url: str) -> str:
    """`url` with a password holding '@' percent-encoded: SQLAlchemy splits at the FIRST '@' and would take
    the rest of the password for the host. Other URLs come back unchanged."""
    found = CREDENTIALS.fullmatch(url)
    if found is None or "@" not in found["password"]:
        return url
    password = quote(unquote(found["password"]), safe="")   # SQLAlchemy unquotes it again: same password
    return f"{found['scheme']}{found['user']}:{password}@{found['rest']}"


def has_password(value: str | None) -> bool:
    """Whether `value` holds a password that mask_value would hide."""
    return bool(value) and mask_value(value) != value


def mask_params(value: Any) -> Any:
    """A copy of a (nested) params structure with every string passed through mask_value."""
    if isinstance(value, str):
        return mask_value(value)
    if isinstance(value, dict):
        return {key: mask_params(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(mask_params(item) for item in value)
    return value
