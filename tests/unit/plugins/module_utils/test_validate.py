# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Values checked against the generated schema tables (CHECKS) before any write."""

from __future__ import annotations

import pytest

from ansible_collections.pve.cloud.plugins.module_utils import lxc, qemu, validate
from ansible_collections.pve.cloud.plugins.module_utils.base import InputError


def checked(schema, key, value, param='config'):
    return validate.check(schema, key, schema.normalize(key, value, param), param)


@pytest.mark.parametrize('schema, key, value, words', [
    (qemu.SCHEMA, 'cores', 0, ['cores: 0 is out of range', '1 or more']),
    (qemu.SCHEMA, 'sockets', 0, ['1 or more']),
    (qemu.SCHEMA, 'balloon', -1, ['0 or more']),
    (qemu.SCHEMA, 'memory', 8, ['memory: current', '16 or more']),
    (qemu.SCHEMA, 'cpulimit', 200, ['0 to 128']),
    (qemu.SCHEMA, 'net0', 'virtio,bridge=vmbr0,tag=5000', ['net0: tag', '5000', '1 to 4094']),
    (qemu.SCHEMA, 'net0', 'virtio,bridge=vmbr0,mtu=70000', ['1 to 65520']),
    (qemu.SCHEMA, 'net0', 'virtio=01:00:00:00:00:01,bridge=vmbr0', ['macaddr', 'unicast MAC']),
    (qemu.SCHEMA, 'net0', 'virtio,bridge=vmbr0,macaddr=zz:zz', ['unicast MAC']),
    (qemu.SCHEMA, 'net0', 'virtio,bridge=vm br0', ['bridge']),
    (qemu.SCHEMA, 'name', 'web_1', ['DNS name']),
    (qemu.SCHEMA, 'name', 'web 1', ['DNS name']),
    (qemu.SCHEMA, 'name', '-web', ['DNS name']),
    (qemu.SCHEMA, 'ipconfig0', 'ip=10.0.0.5', ['ipconfig0: ip', 'prefix length']),
    (qemu.SCHEMA, 'ipconfig0', 'ip=10.0.0.5/24,gw=10.0.0.300', ['gw', 'IPv4 address']),
    (qemu.SCHEMA, 'ipconfig0', 'ip6=10.0.0.5/24', ['ip6', 'IPv6']),
    (qemu.SCHEMA, 'ipconfig0', 'ip=dhcp,gw6=nope', ['gw6']),
    (qemu.SCHEMA, 'startup', 'order=first', ['startup: order', "'first'", 'order=N']),
    (qemu.SCHEMA, 'startup', 'order=1,up=-5', ['startup: up']),
    (qemu.SCHEMA, 'tags', ['ok', 'no/slash'], ['tag', "'no/slash'"]),
    (qemu.SCHEMA, 'tags', ['-x'], ['tag', "'-x'"]),
    (qemu.SCHEMA, 'nameserver', ['10.0.0.1', 'dns.example'], ['nameserver', 'IP address']),
    (qemu.SCHEMA, 'description', 'x' * 9000, ['at most 8192']),
    (qemu.SCHEMA, 'bootdisk', 'floppy0', ['pattern']),
    (lxc.SCHEMA, 'hostname', 'ct_1', ['DNS name']),
    (lxc.SCHEMA, 'net0', 'name=eth0,bridge=vmbr0,ip=10.0.0.5', ['net0: ip', 'prefix length']),
    (lxc.SCHEMA, 'net0', 'name=eth0,bridge=vmbr0,ip=dhcp,mtu=32', ['64 to 65535']),
    (lxc.SCHEMA, 'net0', 'name=eth 0,bridge=vmbr0', ['net0: name', 'pattern']),
    (lxc.SCHEMA, 'cores', 9000, ['1 to 8192']),
    (lxc.SCHEMA, 'tty', 7, ['0 to 6']),
])
def test_refused_naming_the_value_and_what_pve_accepts(schema, key, value, words):
    with pytest.raises(InputError) as err:
        checked(schema, key, value)
    assert err.value.param == 'config'
    for word in words:
        assert word in err.value.message


@pytest.mark.parametrize('schema, key, value', [
    (qemu.SCHEMA, 'cores', 1),
    (qemu.SCHEMA, 'memory', 16),
    (qemu.SCHEMA, 'balloon', 0),
    (qemu.SCHEMA, 'net0', 'virtio=BC:24:11:00:00:01,bridge=vmbr0,tag=4094,mtu=1'),
    (qemu.SCHEMA, 'name', 'web-1.example.org'),
    (qemu.SCHEMA, 'ipconfig0', 'ip=10.0.0.5/24,gw=10.0.0.1,ip6=2001:db8::5/64,gw6=2001:db8::1'),
    (qemu.SCHEMA, 'ipconfig1', 'ip=dhcp,ip6=auto'),
    (qemu.SCHEMA, 'startup', 'order=1,up=30,down=60'),
    (qemu.SCHEMA, 'tags', ['prod', 'web_1', 'a+b.c']),
    (qemu.SCHEMA, 'nameserver', ['10.0.0.1', '2001:db8::53']),
    (qemu.SCHEMA, 'bootdisk', 'scsi0'),
    (lxc.SCHEMA, 'net0', 'name=eth0,bridge=vmbr0,ip=10.0.0.5/24,gw=10.0.0.1,ip6=manual'),
    (lxc.SCHEMA, 'hostname', 'ct-1'),
])
def test_accepted_as_pve_accepts_it(schema, key, value):
    assert checked(schema, key, value) == schema.normalize(key, value, 'config')


@pytest.mark.parametrize('vmid, ok', [(99, False), (100, True), (999999999, True), (1000000000, False)])
def test_vmid_range_from_the_table(vmid, ok):
    if ok:
        assert validate.check_option(qemu.SCHEMA, 'vmid', vmid) == vmid
    else:
        with pytest.raises(InputError) as err:
            validate.check_option(lxc.SCHEMA, 'vmid', vmid)
        assert err.value.param == 'vmid' and '100 to 999999999' in err.value.message


def test_every_table_pattern_is_readable():
    # a pattern Python cannot compile would silently check nothing
    for schema in (qemu.SCHEMA, lxc.SCHEMA):
        for key, limits in schema.checks.items():
            for entry in [limits] + list((limits.get('keys') or {}).values()):
                if entry.get('pattern'):
                    assert validate._pattern(entry['pattern']) is not None, (key, entry['pattern'])
