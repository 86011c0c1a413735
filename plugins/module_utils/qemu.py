# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""QEMU as data: the generated schema table and what PVE does to QEMU values (compare.Schema),
plus the few QEMU-only facts (drive slots, cloud-init keys)."""

from __future__ import annotations

import re

from ansible_collections.pve.cloud.plugins.module_utils import volumes
from ansible_collections.pve.cloud.plugins.module_utils.compare import Schema
from ansible_collections.pve.cloud.plugins.module_utils.qemu_schema import CHECKS, FORMATS, INDEX_MAX, KEYS

DRIVE_RE = re.compile(r'^(ide|sata|scsi|virtio)(\d+)$')
CLOUDINIT_KEYS = re.compile(r'^(ciuser|cipassword|citype|ciupgrade|cicustom|sshkeys|nameserver|searchdomain|'
                            r'ipconfig\d+)$')
# EFI vars and TPM state: PVE picks their size itself
SPECIAL_DISKS = ('efidisk0', 'tpmstate0')

SCHEMA = Schema(
    'QEMU', KEYS, FORMATS, INDEX_MAX,
    lists=dict(tags='tags', sshkeys='sshkeys', nameserver='words', searchdomain='words'),
    generated=dict(net=('macaddr',), efidisk0=('file', 'size', 'ms-cert'), tpmstate0=('file', 'size')),
    text=('description',),
    # PVE returns it masked: a password that is set is left alone (set on create, or when absent)
    write_only=('cipassword',),
    reserved=('digest', 'lock', 'template', 'vmid', 'node', 'parent', 'snaptime', 'vmstate', 'meta',
              'runningmachine', 'runningcpu', 'running-nets-host-mtu'),
    checks=CHECKS,
)

schema_entry = SCHEMA.entry
key_format = SCHEMA.key_format
check_key = SCHEMA.check_key
normalize = SCHEMA.normalize
same = SCHEMA.same
wire = SCHEMA.wire
is_cloudinit = volumes.is_cloudinit
volume_storage = volumes.volume_storage
plan_disk = volumes.plan_volume


def parse_disk(slot, value, param):
    """A `disks` (or efidisk0/tpmstate0) entry, a raw property string or a dict, as a Volume."""
    if not (DRIVE_RE.match(slot) or slot in SPECIAL_DISKS) or key_format(slot) is None:
        raise volumes.InputError(param, "'%s' is not a drive slot: use ide0-3, sata0-5, scsi0-30, virtio0-15" % slot)
    return volumes.parse_volume(SCHEMA, slot, value, param, fixed_size=slot in SPECIAL_DISKS)
