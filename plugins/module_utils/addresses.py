# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A guest's addresses from the QEMU agent's or a container's interface list, and which of them can reach it.

Its own small module because the inventory plugin needs only these: importing guest.py for them cost every
`ansible-inventory` run about 25 ms (ansible-core compiles collection code on each import).
"""

from __future__ import annotations

import ipaddress


def usable_address(text):
    """The ip_address in text ('10.0.0.5', '10.0.0.5/24', 'fe80::1%eth0') if it can reach the guest, else None."""
    try:
        address = ipaddress.ip_address(str(text).partition('/')[0].partition('%')[0].strip())
    except ValueError:
        return None
    if address.is_loopback or address.is_link_local or address.is_unspecified or address.is_multicast:
        return None
    return address


def interface_addresses(interfaces):
    """Every address of the QEMU agent's network-get-interfaces or LXC's /interfaces answer, in order.

    Reads both the agent's form (ip-address-type ipv4/ipv6) and the container form (ip-address-type
    inet/inet6, plus plain inet/inet6 'a.b.c.d/nn' fields).
    """
    found = []
    for iface in interfaces or []:
        if not isinstance(iface, dict):
            continue
        for entry in iface.get('ip-addresses') or []:
            if isinstance(entry, dict) and entry.get('ip-address'):
                found.append(entry['ip-address'])
        for key in ('inet', 'inet6'):
            if iface.get(key):
                found.append(iface[key])
    return found


def pick_address(candidates):
    """The first usable address of the candidates, IPv4 before IPv6, as a string; None when there is none."""
    usable = [a for a in (usable_address(c) for c in candidates) if a is not None]
    for version in (4, 6):
        for address in usable:
            if address.version == version:
                return str(address)
    return None


def addresses(interfaces):
    """The usable (global) addresses of an agent or /interfaces answer, without duplicates, in order."""
    found = []
    for candidate in interface_addresses(interfaces):
        address = usable_address(candidate)
        if address is not None and str(address) not in found:
            found.append(str(address))
    return found
