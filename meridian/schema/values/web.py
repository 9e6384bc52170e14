"""Email addresses and web links, checked by shape only (no DNS, no network).

Email is the practical subset of RFC 5322 that mail systems actually exchange: a dot-atom
local part (Unicode letters allowed, as RFC 6531 does) and a domain name, with no quoted
strings, comments or IP literals. Internationalised domains are stored in Unicode after
IDNA 2003 mapping (the stdlib ``idna`` codec), so 例子。中国 and 例子.中国 are one value.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from urllib.parse import urlsplit

from meridian.core.i18n import Text
from meridian.errors import InvalidValue

_LOCAL_PART = re.compile(r"[\w!#$%&'*+/=?^`{|}~-]+(?:\.[\w!#$%&'*+/=?^`{|}~-]+)*")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_HOST_NAME = re.compile(rf"{_LABEL.pattern}(?:\.{_LABEL.pattern})*")
"""Labels joined by dots: one match instead of a match per label."""
_PLAIN_WEB_URL = re.compile(r"(https?)://([A-Za-z0-9.-]+)(?=[/?#]|\Z)", re.IGNORECASE)
"""The common link — http(s), a host of letters, digits, dots and hyphens, no port, no
credentials — whose parts need no ``urlsplit``: an import reads one per record."""
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")
_DOTTED_NUMBERS = re.compile(r"[0-9.]+")
_WEB_SCHEMES = frozenset({"http", "https"})


def normalize_email(value: str) -> str:
    """``local@domain`` with the domain in lower case, or ``InvalidValue("invalid_email")``.

    The local part keeps its case: RFC 5321 leaves it to the receiving server.
    """
    text = value.strip()
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        raise InvalidValue(
            "invalid_email",
            Text(
                "{value!r} is not an email address: it needs a name, @ and a domain.", value=value
            ),
        )
    if _SPACE_OR_CONTROL.search(text):
        raise InvalidValue(
            "invalid_email",
            Text("{value!r} contains a space; email addresses cannot.", value=value),
        )
    if len(local) > 64 or not _LOCAL_PART.fullmatch(local):
        raise InvalidValue(
            "invalid_email",
            Text(
                "The part before @ in {value!r} is not valid (letters, digits and . _ - + only, "
                "no leading, trailing or double dots; at most 64 characters).",
                value=value,
            ),
        )
    host = _domain_name(domain)
    if host is None or "." not in host:
        raise InvalidValue(
            "invalid_email",
            Text("{domain!r} in {value!r} is not a domain name.", domain=domain, value=value),
        )
    address = f"{local}@{host}"
    if len(address) > 254:
        raise InvalidValue(
            "invalid_email", Text("{value!r} is longer than 254 characters.", value=value)
        )
    return address


def normalize_url(value: str) -> str:
    """An absolute http(s) URL with scheme and host in lower case, or ``InvalidValue``.

    Nothing is added: ``www.example.com`` is refused rather than guessed to be https.
    Credentials (``user:pass@``) are refused so passwords do not end up in plain fields.
    Code: ``invalid_url``.
    """
    text = value.strip()
    if _SPACE_OR_CONTROL.search(text):
        raise InvalidValue(
            "invalid_url", Text("{value!r} contains a space; encode it as %20.", value=value)
        )
    if "://" not in text:
        example = "" if ":" in text else f", for example https://{text}"
        raise InvalidValue(
            "invalid_url",
            Text(
                "{value!r} is not a full web link; write it with http:// or https://{example}.",
                value=value,
                example=example,
            ),
        )
    plain = _PLAIN_WEB_URL.match(text)
    if plain is not None:  # what urlsplit would find, without it (a test holds it to that)
        host = _url_host(plain[2])
        if host is not None:
            return f"{plain[1].lower()}://{host}{text[plain.end() :]}"
    return _split_url(text, value)


def _split_url(text: str, value: str) -> str:
    """:func:`normalize_url` of the stripped ``text`` through ``urlsplit``: any link."""
    try:
        parts = urlsplit(text)
    except ValueError:
        raise InvalidValue(
            "invalid_url", Text("{value!r} has a malformed [IPv6] host.", value=value)
        ) from None
    scheme = parts.scheme.lower()
    if scheme not in _WEB_SCHEMES or not text[len(scheme) :].startswith("://"):
        raise InvalidValue(
            "invalid_url",
            Text(
                "{value!r} is not a web link; it must start with http:// or https://.", value=value
            ),
        )
    if "@" in parts.netloc:
        raise InvalidValue(
            "invalid_url", Text("{value!r} contains credentials (user@); remove them.", value=value)
        )
    host_text, port = _split_port(value, parts.netloc)
    host = _url_host(host_text)
    if host is None:
        raise InvalidValue("invalid_url", Text("{value!r} has no valid host name.", value=value))
    rest = text[len(scheme) + 3 + len(parts.netloc) :]
    return f"{scheme}://{host}{port}{rest}"


def _split_port(value: str, netloc: str) -> tuple[str, str]:
    """The host and the ``:port`` suffix (empty when there is none) of a URL's netloc."""
    if netloc.startswith("["):
        end = netloc.find("]")
        if end < 0:
            return netloc, ""
        host, after = netloc[: end + 1], netloc[end + 1 :]
    else:
        host, colon, port = netloc.partition(":")
        after = colon + port
    if not after:
        return host, ""
    port = after[1:]
    if after[0] != ":" or not port.isdecimal() or not 0 < int(port) < 65536:
        raise InvalidValue(
            "invalid_url", Text("{value!r} has an invalid port {port!r}.", value=value, port=port)
        )
    return host, f":{int(port)}"


def _url_host(host: str) -> str | None:
    if host.startswith("[") and host.endswith("]"):
        try:
            return f"[{ipaddress.IPv6Address(host[1:-1]).compressed}]"
        except ValueError:
            return None
    if _DOTTED_NUMBERS.fullmatch(host):
        try:
            return str(ipaddress.IPv4Address(host))
        except ValueError:
            return None
    return _domain_name(host)


@lru_cache(maxsize=4096)
def _domain_name(domain: str) -> str | None:
    """The lower-case (Unicode) domain, or None when it is not a valid host name.

    Cached because a CRM's addresses share few domains and the IDNA codec costs ~40 µs.
    """
    if domain.isascii():
        name = domain.lower()
        ascii_name = name
    else:
        try:
            ascii_name = domain.encode("idna").decode("ascii")
            name = ascii_name.encode("ascii").decode("idna")
        except UnicodeError:
            return None
    labels = ascii_name.split(".")
    if len(ascii_name) > 253 or labels[-1].isdigit():
        return None
    if not _HOST_NAME.fullmatch(ascii_name):
        return None
    return name
