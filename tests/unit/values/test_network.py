import pytest

from meridian.errors import InvalidValue
from meridian.schema.values.network import normalize_ip


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("10.0.0.1", "10.0.0.1"),
        (" 203.0.113.7 ", "203.0.113.7"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("::ffff:c000:0280", "::ffff:c000:280"),
    ],
)
def test_address_is_stored_in_canonical_form(typed: str, stored: str) -> None:
    assert normalize_ip(typed, "address") == stored
    assert normalize_ip(typed, "any") == stored


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("10.0.0.0/24", "10.0.0.0/24"),
        ("10.0.0.0/255.255.255.0", "10.0.0.0/24"),
        ("2001:DB8::/32", "2001:db8::/32"),
        ("0.0.0.0/0", "0.0.0.0/0"),
    ],
)
def test_network_is_stored_in_canonical_cidr(typed: str, stored: str) -> None:
    assert normalize_ip(typed, "network") == stored
    assert normalize_ip(typed, "any") == stored


def test_bare_address_in_a_network_field_is_a_single_host_network() -> None:
    assert normalize_ip("10.0.0.1", "network") == "10.0.0.1/32"
    assert normalize_ip("2001:db8::1", "network") == "2001:db8::1/128"


@pytest.mark.parametrize(
    ("typed", "meant"), [("10.0.0.1/24", "10.0.0.0/24"), ("2001:db8::1/32", "2001:db8::/32")]
)
def test_network_with_host_bits_is_refused_suggesting_the_network(typed: str, meant: str) -> None:
    with pytest.raises(InvalidValue) as error:
        normalize_ip(typed, "network")
    assert error.value.code == "host_bits_set"
    assert meant in error.value.message
    assert repr(typed) in error.value.message


def test_network_in_an_address_field_is_refused() -> None:
    with pytest.raises(InvalidValue) as error:
        normalize_ip("10.0.0.0/24", "address")
    assert error.value.code == "invalid_ip"
    assert "single IP address" in error.value.message


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "10.0.0",
        "10.0.0.256",
        "010.0.0.1",
        "1.2.3.4.5",
        "gateway",
        "2001:db8:::1",
        "fe80::1%eth0",
    ],
)
@pytest.mark.parametrize("kind", ["address", "any", "network"])
def test_malformed_address_is_refused(typed: str, kind: str) -> None:
    with pytest.raises(InvalidValue) as error:
        normalize_ip(typed, kind)  # type: ignore[arg-type]
    assert error.value.code == "invalid_ip"


@pytest.mark.parametrize(
    "typed", ["10.0.0.0/33", "10.0.0.0/", "10.0.0.0/ 24", "2001:db8::/129", "10.0.0.0/24/8"]
)
def test_malformed_network_is_refused(typed: str) -> None:
    with pytest.raises(InvalidValue) as error:
        normalize_ip(typed, "network")
    assert error.value.code == "invalid_network"
