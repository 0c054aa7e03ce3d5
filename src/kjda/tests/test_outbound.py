"""The outbound guard's address classifier and allow list (kjda.outbound), as units."""

from __future__ import annotations

import ipaddress

import pytest

from kjda.outbound import OutboundRefused, _parse_allow, address_refusal, check_destination

REFUSED = [
    "127.0.0.1", "127.255.255.254", "0.0.0.0", "0.1.2.3",  # noqa: S104 - data, no bind "10.0.0.1", "172.16.0.1",
    "172.31.255.255", "192.168.1.1", "100.64.0.1", "100.127.255.255", "169.254.169.254",
    "169.254.0.1", "192.0.0.8", "192.0.2.10", "198.51.100.7", "203.0.113.9", "198.18.0.1",
    "198.19.255.255", "192.88.99.1", "224.0.0.1", "239.255.255.250", "240.0.0.1",
    "255.255.255.255",
    "::", "::1", "fe80::1", "fe80::1%eth0", "febf::1", "fec0::1", "fc00::1", "fd12:3456::1",
    "ff02::1", "ff05::2", "2001:db8::1", "3fff::1", "100::1", "2001::1", "2001:0:4136::1",
    "64:ff9b:1::1",
    # IPv6 forms of refused IPv4 addresses
    "::ffff:127.0.0.1", "::ffff:7f00:1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",
    "::127.0.0.1", "::10.0.0.1", "64:ff9b::127.0.0.1", "64:ff9b::a9fe:a9fe",
    "2002:7f00:1::1", "2002:a9fe:a9fe::", "2002:c0a8:101::1",
]
PUBLIC = ["8.8.8.8", "1.1.1.1", "114.114.114.114", "203.119.80.1", "100.128.0.1",
          "172.32.0.1", "2606:4700:4700::1111", "2400:3200::1", "::ffff:8.8.8.8",
          "64:ff9b::808:808", "2002:808:808::1"]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address):
    assert address_refusal(address)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address):
    assert address_refusal(address) == ""


def test_not_an_address():
    assert address_refusal("example.com") == "not an IP address"


@pytest.mark.parametrize("name", ["localhost", "2130706433", "0177.0.0.1", "0x7f000001",
                                  "127.1", "0", "017700000001", "LOCALHOST."])
def test_spellings_of_loopback_are_judged_by_what_they_resolve_to(settings, name):
    settings.KJDA_OUTBOUND_ALLOW = ""
    with pytest.raises(OutboundRefused):
        check_destination(name, 80)


def test_a_name_is_refused_when_any_of_its_addresses_is(settings, monkeypatch):
    settings.KJDA_OUTBOUND_ALLOW = ""

    def resolve(host, port, *args, **kwargs):
        return [(2, 1, 6, "", ("93.184.216.34", port)), (2, 1, 6, "", ("10.0.0.5", port))]

    monkeypatch.setattr("socket.getaddrinfo", resolve)
    with pytest.raises(OutboundRefused) as err:
        check_destination("files.vendor.example", 443)
    assert "10.0.0.5" in str(err.value)


def test_allow_list_entries():
    entries = _parse_allow("oa.corp.local, 10.20.0.0/16 127.0.0.1:9800,[::1]:8443,fd00::/8,"
                           "Sim.Example.:81")
    ip = ipaddress.ip_address
    assert entries[0].admits("oa.corp.local", ip("10.9.9.9"), 443)
    assert not entries[0].admits("other.corp.local", ip("10.9.9.9"), 443)
    assert entries[1].admits("x", ip("10.20.3.4"), 80)
    assert not entries[1].admits("x", ip("10.21.0.1"), 80)
    assert entries[2].admits("x", ip("127.0.0.1"), 9800)
    assert not entries[2].admits("x", ip("127.0.0.1"), 8000)
    assert entries[3].admits("x", ip("::1"), 8443) and not entries[3].admits("x", ip("::1"), 80)
    assert entries[4].admits("x", ip("fd12::1"), 80)
    assert entries[5].admits("sim.example", ip("127.0.0.1"), 81)
    wildcard = _parse_allow("*.corp.local")[0]
    assert wildcard.admits("oa.corp.local", ip("10.0.0.1"), 443)
    assert not wildcard.admits("corp.local", ip("10.0.0.1"), 443)
    assert not wildcard.admits("evilcorp.local", ip("10.0.0.1"), 443)


def test_allow_list_admits_by_cidr_and_by_name(settings):
    settings.KJDA_OUTBOUND_ALLOW = "127.0.0.0/8"
    assert check_destination("127.0.0.1", 80)
    settings.KJDA_OUTBOUND_ALLOW = "localhost:80"
    assert check_destination("localhost", 80)
    with pytest.raises(OutboundRefused):
        check_destination("localhost", 8080)
    with pytest.raises(OutboundRefused):
        check_destination("127.0.0.1", 80)  # the name is allowed, not its address
