# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""LXC as data: the generated schema table and what pve-container does to LXC values (compare.Schema),
plus the few LXC-only facts (mount point keys, container templates)."""

from __future__ import annotations

import re

from ansible_collections.pve.cloud.plugins.module_utils.compare import Schema
from ansible_collections.pve.cloud.plugins.module_utils.lxc_schema import CHECKS, FORMATS, INDEX_MAX, KEYS

VOLUME_RE = re.compile(r'^(rootfs|mp\d+)$')
NET_RE = re.compile(r'^net(\d+)$')
# A container template volume id, as `pveam` stores it: STORAGE:vztmpl/NAME
VZTMPL_RE = re.compile(r'^[^/:\s]+:vztmpl/.+$')
TEMPLATE_EXTENSIONS = ('.tar.zst', '.tar.xz', '.tar.gz', '.tgz', '.tar.bz2', '.tar')

SCHEMA = Schema(
    'LXC', KEYS, FORMATS, INDEX_MAX,
    lists=dict(tags='tags', nameserver='words', searchdomain='words'),
    # PVE generates the MAC (hwaddr) and fills in the only interface type (veth)
    generated=dict(net=('hwaddr', 'type')),
    text=('description',),
    # unprivileged is fixed at creation: its own option says so; lock/template belong to PVE
    reserved=('digest', 'lock', 'template', 'vmid', 'node', 'parent', 'snaptime', 'unprivileged', 'lxc'),
    checks=CHECKS,
)


def template_name(volid):
    """The appliance name of a template volume: 'debian-13-standard_13.1-1_amd64' for its volid."""
    name = volid.rsplit('/', 1)[-1]
    for ext in TEMPLATE_EXTENSIONS:
        if name.endswith(ext):
            return name[:-len(ext)]
    return name


def matches_template(wanted, volid):
    """Whether a template volume is the appliance `wanted`: its full file name, its name without the
    archive extension, or the package name before the version ('debian-13-standard')."""
    filename = volid.rsplit('/', 1)[-1]
    name = template_name(volid)
    return wanted in (filename, name) or name.split('_', 1)[0] == wanted
