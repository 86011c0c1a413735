# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Values checked against PVE's limits before any write: the CHECKS table of the generated schema
(minimum, maximum, maxLength, named format, pattern, per key and per property-string sub-key), so a
task that PVE would refuse with `Parameter verification failed` fails first, naming the option and
saying what PVE accepts.

The named formats are read from pve-common's src/PVE/JSONSchema.pm (dns-name, mac-addr, the
ipv4/ipv6 configs, pve-tag, pve-startup-order, ...); a format this file does not know is left to PVE.
"""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.pve.cloud.plugins.module_utils.base import InputError

DNS_NAME = re.compile(r'^(?:[a-zA-Z0-9](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?\.)*[a-zA-Z0-9](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?$')
# pve_verify_mac_addr: a unicast address (the lowest bit of the first byte clear)
MAC_ADDR = re.compile(r'^[a-f0-9][02468ace](?::[a-f0-9]{2}){5}$', re.IGNORECASE)
TAG = re.compile(r'^[a-z0-9_][a-z0-9_\-+.]*$', re.IGNORECASE)
STORAGE_ID = re.compile(r'^[a-z][a-z0-9\-_.]*[a-z0-9]$', re.IGNORECASE)
BRIDGE_ID = re.compile(r'^[-_.\w]+$')
LIST_SPLIT = re.compile(r'[;,\s]+')


def _address(version):
    def check(text):
        try:
            return ipaddress.ip_address(text).version == version
        except ValueError:
            return False
    return check


def _cidr(version, words):
    def check(text):
        if text in words:
            return True
        address, sep, prefix = text.partition('/')
        if not sep or not prefix.isdigit():
            return False
        try:
            return ipaddress.ip_interface(text).version == version
        except ValueError:
            return False
    return check


def _any_address(text):
    return _address(4)(text) or _address(6)(text)


def _each(check):
    return lambda text: all(check(item) for item in LIST_SPLIT.split(text.strip()) if item)


def _startup(text):
    for item in text.split(','):
        key, sep, value = item.partition('=')
        if not sep:
            key, value = 'order', key
        if key not in ('order', 'up', 'down') or not value.isdigit():
            return False
    return True


# named format: (check(text) -> bool, what PVE accepts, as said to the user)
NAMED_FORMATS = {
    'dns-name': (DNS_NAME.match, 'a DNS name: letters, digits and hyphens in dot-separated labels, no underscores or '
                                 'spaces (for example web-1 or web-1.example.org)'),
    'dns-name-list': (_each(DNS_NAME.match), 'DNS names separated by spaces, commas or semicolons'),
    'mac-addr': (MAC_ADDR.match, 'a unicast MAC address such as BC:24:11:12:34:56 (the first byte even); leave it '
                                 'out to let PVE generate one'),
    'ipv4': (_address(4), 'an IPv4 address such as 10.0.0.1'),
    'ipv6': (_address(6), 'an IPv6 address such as 2001:db8::1'),
    'ip': (_any_address, 'an IP address'),
    'address-list': (_each(_any_address), 'IP addresses separated by spaces, commas or semicolons'),
    'pve-ipv4-config': (_cidr(4, ('dhcp', 'manual')),
                        'an IPv4 address with its prefix length such as 10.0.0.5/24, or dhcp'),
    'pve-ipv6-config': (_cidr(6, ('dhcp', 'auto', 'manual')),
                        'an IPv6 address with its prefix length such as 2001:db8::5/64, or dhcp or auto'),
    'pve-tag': (TAG.match, 'letters, digits and _ - + . (not starting with - + or .)'),
    'pve-startup-order': (_startup, "order=N[,up=SECONDS][,down=SECONDS] with whole numbers, for example "
                                    "'order=1,up=30'"),
    'seconds': (str.isdigit, "a whole number 0 or more (startup: order=N[,up=SECONDS][,down=SECONDS])"),
    'pve-storage-id': (STORAGE_ID.match, 'a storage id: a letter, then letters, digits, - _ or .'),
    'pve-bridge-id': (BRIDGE_ID.match, 'a bridge name such as vmbr0'),
}
# named formats that are property strings themselves: the format of each sub-key
NAMED_PROPERTY_STRINGS = {
    'pve-qm-ipconfig': dict(ip='pve-ipv4-config', gw='ipv4', ip6='pve-ipv6-config', gw6='ipv6'),
    'pve-startup-order': dict(order='seconds', up='seconds', down='seconds'),
}
LIST_FORMATS = {'pve-tag-list': 'pve-tag', 'address-list': 'ip', 'dns-name-list': 'dns-name'}


def check(schema, key, value, param):
    """Refuse a normalised desired value of config key `key` (from compare.Schema.normalize) that PVE would
    refuse; returns the value."""
    if value is None:
        return value
    limits = schema_checks(schema, key)
    what = '%s.%s' % (param, key) if param != key else key
    if isinstance(value, dict):
        subs = limits.get('keys') or {}
        named = NAMED_PROPERTY_STRINGS.get(limits.get('format'), {})
        for sub, sub_value in value.items():
            sub_limits = subs.get(sub) or ({'format': named[sub]} if sub in named else {})
            check_value(sub_limits, sub_value, param, '%s: %s' % (what, sub))
    elif isinstance(value, (list, tuple)):
        item_format = LIST_FORMATS.get(limits.get('format'))
        for item in value:
            check_value({'format': item_format} if item_format else {}, item, param, what)
    else:
        check_value(limits, value, param, what)
    return value


def check_option(schema, key, value, param=None):
    """Refuse a module option that is a creation parameter of PVE (vmid, ...) outside PVE's limits."""
    if value is not None:
        check_value(schema_checks(schema, key), value, param or key, param or key)
    return value


def schema_checks(schema, key):
    checks = getattr(schema, 'checks', None) or {}
    if key in checks:
        return checks[key]
    entry_key = key.rstrip('0123456789') + '[n]'
    return checks.get(entry_key, {}) if entry_key != key + '[n]' else {}


def check_value(limits, value, param, what):
    """One scalar against its limits; raises InputError naming `param` with what PVE accepts."""
    if not limits or value is None or isinstance(value, bool):
        return
    # InputError puts the parameter first: name the key only when it is another one
    what = '' if what == param else '%s: ' % what
    low, high = limits.get('minimum'), limits.get('maximum')
    if low is not None or high is not None:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = None
        if number is not None and ((low is not None and number < low) or (high is not None and number > high)):
            raise InputError(param, '%s%s is out of range: PVE accepts %s' % (what, value, _range(low, high)))
    text = str(value)
    if limits.get('maxLength') and len(text) > limits['maxLength']:
        raise InputError(param, '%s%d characters is too long: PVE accepts at most %d'
                         % (what, len(text), limits['maxLength']))
    named = NAMED_FORMATS.get(limits.get('format'))
    if named is not None and not named[0](text):
        raise InputError(param, "%s'%s' is not valid: PVE expects %s" % (what, text, named[1]))
    pattern = _pattern(limits.get('pattern'))
    if pattern is not None and not pattern.match(text):
        raise InputError(param, "%s'%s' does not match the pattern PVE requires (%s)"
                         % (what, text, limits['pattern'].replace('(?^:', '(?:')))


def _range(low, high):
    def show(number):
        return '%d' % number if float(number).is_integer() else '%s' % number
    if low is not None and high is not None:
        return '%s to %s' % (show(low), show(high))
    if low is not None:
        return '%s or more' % show(low)
    return 'at most %s' % show(high)


_PATTERNS = {}


def _pattern(text):
    """PVE's Perl pattern, anchored at both ends as check_prop does; None when Python cannot read it."""
    if not text:
        return None
    if text not in _PATTERNS:
        try:
            _PATTERNS[text] = re.compile('^(?:%s)$' % text.replace('(?^:', '(?:'))
        except re.error:
            _PATTERNS[text] = None
    return _PATTERNS[text]
