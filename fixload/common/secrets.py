r"""Keeps tokens out of every log line, summary, report and web page fixload writes.

Redaction works on values, not on field names: a token can appear in a response body, an error
message or a URL, so every known secret value (and anything shaped like a JWT or a bearer header)
is masked wherever it shows up, in any mix of encodings, character by character: raw, JSON-escaped
(`\/`, `\u002f`, any `\uXXXX`, escaped again inside JSON), URL-encoded (`%2F` or `%2f`, `+` for a space,
encoded twice), HTML entities; and base64 (standard and URL-safe, padded or not, also inside a longer
base64 text). A secret of 6 characters or more is masked wherever it appears; a shorter one only where it
stands alone as a value (a JSON string `"abc"`, a query or form value `=abc&`, a header value `: abc` at
the end of its line, after `Bearer `), since masking every `abc` in a text would hide ordinary words.
"""

from __future__ import annotations

import base64
import functools
import os
import re
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit, urlunsplit

MASK = "***"
SECRET_ENV_VARS: tuple[str, ...] = ("K6_USER_TOKEN", "K6_PROVIDER_TOKEN", "K6_ADMIN_TOKEN")

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@?#]+@")
_known: set[str] = set()
_patterns: list[tuple[str, str, bool]] = []
"""(hint, form, short) per registered form, longest first: the pattern runs only on a text holding the hint (the
form's longest run of letters and digits, which JSON, URL and HTML encoders leave as they are) or an escape
that could hide it (`_ESCAPES`), so a body without any secret costs a few substring searches."""
_built_for = (0, 0)
"""(id, size) of the `_known` the patterns were built from: a replaced or cleared set rebuilds them."""
_ESCAPES = ("\\u", "&#", "%25")
_ALNUM = re.compile(r"[A-Za-z0-9]+")
_CREDENTIAL = re.compile(r"(?i)key|auth|sig|cred|session|jwt|pass|pwd|code|secret|token")
SHORT = 6
"""Below this many characters a secret is masked only where it stands alone as a value."""
_ALONE = (  # (what ends just before, what may follow) a short secret standing alone as a value
    ('"', '"'),  # a JSON string
    ("'", "'"),
    ("=", "&#; \t\r\n\"'"),  # a query, form or cookie value (`name=`: not `==`, `<=`, ...)
    (":", "\r\n"),  # a header value, to the end of its line
    (": ", "\r\n"),
    ("bearer ", " \t\r\n\"'"),
)
_HTML = {"&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "#x27"}


def is_secret_name(name: str) -> bool:
    upper = name.upper()
    return upper in SECRET_ENV_VARS or any(word in upper for word in ("TOKEN", "SECRET", "PASSWORD"))


def forms(value: str) -> set[str]:
    """A secret as it may appear in text, literally: raw, URL-encoded (both ways) and base64 (standard and
    URL-safe, padded or not, and the part of it that survives inside a longer base64 text at each of the three
    byte alignments). `redact` also matches any per-character mix of JSON, URL and HTML escapes (`_char`)."""
    return {quote(value, safe=""), quote_plus(value, safe=""), quote(value)} | _base64_forms(value)


def _base64_forms(value: str) -> set[str]:
    """The value itself and its base64 forms (see `forms`)."""
    raw = value.encode()
    out = {value}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(raw).decode()
        out |= {encoded, encoded.rstrip("=")}
        for shift, skip in ((1, 2), (2, 3)):  # the secret after 1 or 2 other bytes: its own characters only
            inner = encode(bytes(shift) + raw).decode()[skip : (shift + len(raw)) * 4 // 3]
            if len(inner) >= SHORT + 2:
                out.add(inner)
    return out


def _hex(text: str) -> str:
    """Hex digits matched in either case (a character class each: cheaper to compile than `(?i:...)`)."""
    return "".join(f"[{h.lower()}{h.upper()}]" if h.isalpha() else h for h in text)


@functools.cache
def _char(c: str) -> str:
    """A regex for one character of a secret in any of its text encodings: JSON's `\\uXXXX` (escaped again or
    not) for every character; for one that encoders do change (not a letter, digit, `-`, `_`, `.`, `~`), also
    URL-encoded (once or twice), `+` for a space, JSON's `\\/` `\\"` `\\\\`, and HTML entities."""
    code = ord(c)
    units = [code] if code < 0x10000 else [0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)]
    alts = [re.escape(c), "".join(f"\\\\+u{_hex(f'{unit:04x}')}" for unit in units)]
    if not (c.isascii() and (c.isalnum() or c in "-_.~")):
        alts.append("".join(f"%(?:25)?{_hex(f'{byte:02x}')}" for byte in c.encode()))
        if c == " ":
            alts.append(r"\+")
        if c in '/"\\':
            alts.append(r"\\+" + re.escape(c))
        if c in _HTML:
            alts.append(f"&{_HTML[c]};")
        alts.append(f"&#(?:0*{code}|[xX]0*{_hex(f'{code:x}')});")
    return "(?:" + "|".join(alts) + ")"


def _alone(match: re.Match[str]) -> str:
    """MASK for a short secret's match that stands alone as a value (`_ALONE`), else the match unchanged."""
    text, start, end = match.string, match.start(), match.end()
    following = text[end : end + 1]
    for before, after in _ALONE:
        if text[max(start - len(before), 0) : start].lower() == before and (not following or following in after):
            if before == "=" and not (start >= 2 and (text[start - 2].isalnum() or text[start - 2] in "_-.]")):
                continue  # an operator (`rate==1`, `p(95)<=1`), not a name's value
            return MASK
    return match.group()


@functools.cache
def _secret_pattern(value: str) -> re.Pattern[str]:
    """Compiled on first use only (`redact` asks for it when a text holds the form's hint): a long token's
    pattern takes milliseconds to compile, and most texts never need it."""
    return re.compile("".join(_char(c) for c in value))


def _rebuild() -> None:
    global _patterns, _built_for
    ordered = sorted(_known, key=len, reverse=True)
    _patterns = [(max(_ALNUM.findall(v), key=len, default=""), v, len(v) < SHORT) for v in ordered]
    _built_for = (id(_known), len(_known))


def register_secrets(values: Iterable[str | None]) -> None:
    """Remember secret values so `redact` masks them, in every form they may be echoed in, even when they do
    not look like a JWT. Values shorter than `SHORT` are masked only where they stand alone as a value."""
    before = len(_known)
    for v in values:
        if v and v.strip():
            _known.update(_base64_forms(v))  # URL-encoded forms need no entry: `_char` matches them
    if len(_known) != before:
        _rebuild()


def register_url_userinfo(url: str) -> None:
    """A base URL's secrets: the password of its `user:password@` (and the Basic header's base64 of both),
    and its query values (`?access_token=...`): every one of 6 characters or more, and a shorter one whose
    name says credential (`key`, `sig`, `auth`, ...), so `?v=1` does not make every `=1` a secret. `mask_url`
    masks every query value whatever its length."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return
    if parts.password:
        register_secrets([unquote(parts.password), parts.password])
        register_secrets([f"{unquote(parts.username or '')}:{unquote(parts.password)}"])
    for name, value in parse_qsl(parts.query, keep_blank_values=False):
        if len(value) >= SHORT or is_secret_name(name) or _CREDENTIAL.search(name):
            register_secrets([value])


def mask_url(url: str) -> str:
    """A URL as it may be shown: any userinfo (`lt:PW@`) and every query value (`?access_token=***`) masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _USERINFO.sub(lambda m: m.group(1) + MASK + "@", url)
    if parts.query:
        masked = "&".join(f"{pair.split('=', 1)[0]}={MASK}" if "=" in pair else pair for pair in parts.query.split("&"))
        parts = parts._replace(query=masked)
    if "@" in parts.netloc:
        parts = parts._replace(netloc=f"{MASK}@{parts.netloc.rsplit('@', 1)[1]}")
    return urlunsplit(parts)


def register_secrets_from_env(env: Mapping[str, str] | None = None) -> None:
    source = os.environ if env is None else env
    register_secrets(value for name, value in source.items() if is_secret_name(name))


def _current() -> list[tuple[str, str, bool]]:
    """`_patterns`, rebuilt first if `_known` changed since."""
    if _built_for != (id(_known), len(_known)):
        _rebuild()
    return _patterns


def prepare(pause: Callable[[], object] | None = None) -> None:
    """Compile every registered form's pattern now, not in the first text that needs them all (one with an
    escape, such as the web UI's JSON): 19 patterns for the simulator's tokens take 0.1 s idle and 0.2-0.5 s on
    a loaded machine, a stall of the whole event loop. The web UI calls it before it serves, the leading process
    at test start before t0 is set (an env file given with START included); a worker, which has no idle moment
    before its t0, with a `pause` (a short sleep) after each pattern, so its test is never stalled for more
    than one (~6 ms)."""
    for _, form, _ in list(_current()):
        _secret_pattern(form)
        if pause is not None:
            pause()


def redact(text: str) -> str:
    patterns = _current()
    if patterns:
        escaped = any(marker in text for marker in _ESCAPES)
        for hint, form, short in patterns:
            if escaped or hint in text:
                text = _secret_pattern(form).sub(_alone if short else MASK, text)
    text = _BEARER.sub(lambda m: m.group(1) + MASK, text)
    text = _USERINFO.sub(lambda m: m.group(1) + MASK + "@", text)
    return _JWT.sub(MASK, text)


def masked_env(env: Mapping[str, str]) -> dict[str, str]:
    """The environment as it may be shown: secret variables keep their name, lose their value."""
    return {k: (MASK if is_secret_name(k) and v else v) for k, v in env.items()}
