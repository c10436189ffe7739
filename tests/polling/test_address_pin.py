"""Addresses in every form the socket layer reads them."""

from __future__ import annotations

import pytest

from monitor.polling.addresses import is_private_address, parse_address


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0xa9fea9fe", "169.254.169.254"),
        ("[::1]", "::1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("93.184.216.34", "93.184.216.34"),
        ("example.com", None),
        ("cafe", None),
        ("1.2.3.4.5", None),
        ("", None),
    ],
)
def test_parse_address_reads_what_the_socket_layer_reads(text, address):
    parsed = parse_address(text)
    assert (None if parsed is None else str(parsed)) == address


@pytest.mark.parametrize(
    "address",
    ["2130706433", "0x7f.0.0.1", "0177.0.0.1", "127.1", "0xa9fea9fe", "[::1]", "::ffff:127.0.0.1", "fe80::1%eth0"],
)
def test_every_form_of_a_private_address_is_private(address):
    assert is_private_address(address)


def test_public_addresses_and_names_are_not_private():
    assert not is_private_address("93.184.216.34")
    assert not is_private_address("2606:2800:220:1:248:1893:25c8:1946")
    assert not is_private_address("example.com")
