"""IP addresses and CIDR networks, IPv4 and IPv6, in ``ipaddress``'s canonical text.

Networks are strict: ``10.0.0.1/24`` names a host, not a network, and is refused with the
network it probably meant, because storing it silently as ``10.0.0.0/24`` would change what
the user wrote.
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from meridian.core.i18n import Text
from meridian.errors import InvalidValue

IpKind = Literal["address", "network", "any"]


def normalize_ip(value: str, kind: IpKind = "any") -> str:
    """The canonical address (``2001:db8::1``) or network (``10.0.0.0/24``), or ``InvalidValue``.

    ``kind`` limits what is accepted: ``"address"`` refuses networks, ``"network"`` takes a
    bare address as a single-host network (``/32`` or ``/128``), ``"any"`` takes either.
    Codes: ``invalid_ip``, ``invalid_network``, ``host_bits_set``.
    """
    text = value.strip()
    if "%" in text:
        # A zone index (fe80::1%eth0) only means something on one host's interfaces.
        raise InvalidValue(
            "invalid_ip", Text("{value!r} has a zone index (%…), which is not stored.", value=value)
        )
    if "/" in text:
        if kind == "address":
            raise InvalidValue(
                "invalid_ip",
                Text("{value!r} is a network; this field takes a single IP address.", value=value),
            )
        return _network(value, text)
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise InvalidValue(
            "invalid_ip", Text("{value!r} is not an IPv4 or IPv6 address.", value=value)
        ) from None
    if kind == "network":
        return str(ipaddress.ip_network(address))
    return str(address)


def _network(value: str, text: str) -> str:
    try:
        return str(ipaddress.ip_network(text, strict=True))
    except ValueError:
        pass
    try:
        loose = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise InvalidValue(
            "invalid_network",
            Text(
                "{value!r} is not a network in CIDR notation such as 10.0.0.0/24 or 2001:db8::/32.",
                value=value,
            ),
        ) from None
    raise InvalidValue(
        "host_bits_set",
        Text("{value!r} has host bits set; did you mean {loose}?", value=value, loose=loose),
    )
