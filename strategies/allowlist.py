"""A webhook source's IP allowlist: addresses and networks, compared with ``ipaddress``.

Stored as a JSON list of strings ("52.89.214.238", "10.0.0.0/8", "2001:db8::/32"). A
list is validated when saved (``SignalSource.clean``); a value that still does not parse
when a request comes (written around the validation) lets nobody in.
"""

from __future__ import annotations

import ipaddress

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_allowlist(value) -> list[Network]:
    """The networks of ``value`` - a list of address or network strings. Raises
    ValueError naming the first entry that is not one."""
    if not isinstance(value, list):
        raise ValueError('A list of addresses or networks, e.g. ["52.89.214.238", "10.0.0.0/8"].')
    networks = []
    for entry in value:
        if not isinstance(entry, str):
            raise ValueError(f"{entry!r} is not an address or network.")
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"{entry!r} is not an address or network.") from exc
    return networks


def address_allowed(address: str, allowlist) -> bool:
    """Whether ``address`` is inside one of the networks of ``allowlist``; False for an
    address or allowlist that does not parse (fail closed)."""
    try:
        networks = parse_allowlist(allowlist)
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)
