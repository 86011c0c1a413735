# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""LXC config keys and property-string formats, generated from the PVE 9 API schema.

Do not edit: regenerate with hacking/gen_schema.py.
KEYS maps a config key (indexed keys as 'net[n]') to (type, enum, format name or None).
FORMATS maps a format name to default_key, keys {name: (type, default, enum)}, aliases {alias: key}
and key_aliases {alias: (key, value key)} (net's `virtio=MAC` sets model=virtio and macaddr=MAC).
CHECKS maps a key (creation parameters such as vmid too) to the limits PVE checks: minimum, maximum,
maxLength, format (a named format) and pattern; `keys` holds those of its property-string sub-keys.
"""

from __future__ import annotations

INDEX_MAX = {'net': 31, 'mp': 255, 'unused': 255, 'dev': 255}

KEYS = {
    'arch': ('string', ['amd64', 'i386', 'arm64', 'armhf', 'riscv32', 'riscv64'], None),
    'cmode': ('string', ['shell', 'console', 'tty'], None),
    'console': ('boolean', None, None),
    'cores': ('integer', None, None),
    'cpulimit': ('number', None, None),
    'cpuunits': ('integer', None, None),
    'debug': ('boolean', None, None),
    'description': ('string', None, None),
    'dev[n]': ('string', None, 'dev'),
    'entrypoint': ('string', None, None),
    'env': ('string', None, None),
    'features': ('string', None, 'features'),
    'hookscript': ('string', None, None),
    'hostname': ('string', None, None),
    'lock': (
        'string',
        [
            'backup',
            'create',
            'destroyed',
            'disk',
            'fstrim',
            'migrate',
            'mounted',
            'rollback',
            'snapshot',
            'snapshot-delete',
        ],
        None,
    ),
    'memory': ('integer', None, None),
    'mp[n]': ('string', None, 'mp'),
    'nameserver': ('string', None, None),
    'net[n]': ('string', None, 'net'),
    'onboot': ('boolean', None, None),
    'ostype': (
        'string',
        [
            'debian',
            'devuan',
            'ubuntu',
            'centos',
            'fedora',
            'opensuse',
            'archlinux',
            'alpine',
            'gentoo',
            'nixos',
            'unmanaged',
        ],
        None,
    ),
    'protection': ('boolean', None, None),
    'rootfs': ('string', None, 'rootfs'),
    'searchdomain': ('string', None, None),
    'startup': ('string', None, 'startup'),
    'swap': ('integer', None, None),
    'tags': ('string', None, None),
    'template': ('boolean', None, None),
    'timezone': ('string', None, None),
    'tty': ('integer', None, None),
    'unprivileged': ('boolean', None, None),
    'unused[n]': ('string', None, 'unused'),
}

FORMATS = {
    'dev': {
        'aliases': {},
        'default_key': 'path',
        'key_aliases': {},
        'keys': {
            'deny-write': ('boolean', 0, None),
            'gid': ('integer', None, None),
            'mode': ('string', None, None),
            'path': ('string', None, None),
            'uid': ('integer', None, None),
        },
    },
    'features': {
        'aliases': {},
        'default_key': None,
        'key_aliases': {},
        'keys': {
            'force_rw_sys': ('boolean', 0, None),
            'fuse': ('boolean', 0, None),
            'keyctl': ('boolean', 0, None),
            'mknod': ('boolean', 0, None),
            'mount': ('string', None, None),
            'nesting': ('boolean', 0, None),
        },
    },
    'mp': {
        'aliases': {},
        'default_key': 'volume',
        'key_aliases': {},
        'keys': {
            'acl': ('boolean', None, None),
            'backup': ('boolean', None, None),
            'idmap': ('string', None, None),
            'keepattrs': ('boolean', 0, None),
            'mountoptions': ('string', None, None),
            'mp': ('string', None, None),
            'quota': ('boolean', None, None),
            'replicate': ('boolean', 1, None),
            'ro': ('boolean', None, None),
            'shared': ('boolean', 0, None),
            'size': ('string', None, None),
            'volume': ('string', None, None),
        },
    },
    'net': {
        'aliases': {},
        'default_key': None,
        'key_aliases': {},
        'keys': {
            'bridge': ('string', None, None),
            'firewall': ('boolean', None, None),
            'gw': ('string', None, None),
            'gw6': ('string', None, None),
            'host-managed': ('boolean', None, None),
            'hwaddr': ('string', None, None),
            'ip': ('string', None, None),
            'ip6': ('string', None, None),
            'link_down': ('boolean', None, None),
            'mtu': ('integer', None, None),
            'name': ('string', None, None),
            'rate': ('number', None, None),
            'tag': ('integer', None, None),
            'trunks': ('string', None, None),
            'type': ('string', None, ['veth']),
        },
    },
    'rootfs': {
        'aliases': {},
        'default_key': 'volume',
        'key_aliases': {},
        'keys': {
            'acl': ('boolean', None, None),
            'idmap': ('string', None, None),
            'mountoptions': ('string', None, None),
            'quota': ('boolean', None, None),
            'replicate': ('boolean', 1, None),
            'ro': ('boolean', None, None),
            'shared': ('boolean', 0, None),
            'size': ('string', None, None),
            'volume': ('string', None, None),
        },
    },
    'startup': {
        'aliases': {},
        'default_key': 'order',
        'key_aliases': {},
        'keys': {
            'down': ('string', None, None),
            'order': ('string', None, None),
            'up': ('string', None, None),
        },
    },
    'unused': {
        'aliases': {},
        'default_key': 'volume',
        'key_aliases': {},
        'keys': {'volume': ('string', None, None)},
    },
}

CHECKS = {
    'bwlimit': {'minimum': 0.0},
    'cores': {'minimum': 1, 'maximum': 8192},
    'cpulimit': {'minimum': 0.0, 'maximum': 8192.0},
    'cpuunits': {'minimum': 0, 'maximum': 500000},
    'description': {'maxLength': 8192},
    'dev[n]': {
        'keys': {
            'gid': {'minimum': 0},
            'mode': {'pattern': '0[0-7]{3}'},
            'path': {'format': 'pve-lxc-dev-string'},
            'uid': {'minimum': 0},
        },
    },
    'entrypoint': {'pattern': '(?^:[^\\x00-\\x08\\x0a-\\x1F\\x7F]+)'},
    'env': {
        'pattern': '(?^:(?:\\w+=[^\\x00-\\x08\\x0a-\\x1F\\x7F]*)(?:\\0\\w+=[^\\x00-\\x08\\x0a-\\x1F\\x7F]*)*)',
    },
    'features': {'keys': {'mount': {'pattern': '(?^:[a-zA-Z0-9_; ]+)'}}},
    'hookscript': {'format': 'pve-volume-id'},
    'hostname': {'maxLength': 255, 'format': 'dns-name'},
    'memory': {'minimum': 16},
    'mp[n]': {
        'keys': {
            'idmap': {
                'pattern': (
                    '(?^:^(?:passthrough|[ug]:[0-9]+:[0-9]+:[1-9][0-9]*(?:;[ug]:['
                    '0-9]+:[0-9]+:[1-9][0-9]*)*)$)'
                ),
            },
            'mountoptions': {
                'pattern': (
                    '(?^:(?^:(discard|lazytime|noatime|nodev|noexec|nosuid))(;(?^'
                    ':(discard|lazytime|noatime|nodev|noexec|nosuid)))*)'
                ),
            },
            'mp': {'format': 'pve-lxc-mp-string'},
            'size': {'format': 'disk-size'},
            'volume': {'format': 'pve-lxc-mp-string'},
        },
    },
    'nameserver': {'format': 'lxc-ip-with-ll-iface-list'},
    'net[n]': {
        'keys': {
            'bridge': {'pattern': '[-_.\\w\\d]+'},
            'gw': {'format': 'ipv4'},
            'gw6': {'format': 'ipv6'},
            'hwaddr': {'format': 'mac-addr'},
            'ip': {'format': 'pve-ipv4-config'},
            'ip6': {'format': 'pve-ipv6-config'},
            'mtu': {'minimum': 64, 'maximum': 65535},
            'name': {'pattern': '[-_.\\w\\d]+'},
            'tag': {'minimum': 1, 'maximum': 4094},
            'trunks': {'pattern': '(?^:\\d+(?:;\\d+)*)'},
        },
    },
    'node': {'format': 'pve-node'},
    'ostemplate': {'maxLength': 255},
    'pool': {'format': 'pve-poolid'},
    'rootfs': {
        'keys': {
            'idmap': {
                'pattern': (
                    '(?^:^(?:passthrough|[ug]:[0-9]+:[0-9]+:[1-9][0-9]*(?:;[ug]:['
                    '0-9]+:[0-9]+:[1-9][0-9]*)*)$)'
                ),
            },
            'mountoptions': {
                'pattern': (
                    '(?^:(?^:(discard|lazytime|noatime|nodev|noexec|nosuid))(;(?^'
                    ':(discard|lazytime|noatime|nodev|noexec|nosuid)))*)'
                ),
            },
            'size': {'format': 'disk-size'},
            'volume': {'format': 'pve-lxc-mp-string'},
        },
    },
    'searchdomain': {'format': 'dns-name-list'},
    'startup': {'format': 'pve-startup-order'},
    'storage': {'format': 'pve-storage-id'},
    'swap': {'minimum': 0},
    'tags': {'format': 'pve-tag-list'},
    'timezone': {'format': 'pve-ct-timezone'},
    'tty': {'minimum': 0, 'maximum': 6},
    'unused[n]': {'keys': {'volume': {'format': 'pve-volume-id'}}},
    'vmid': {'minimum': 100, 'maximum': 999999999, 'format': 'pve-vmid'},
}
