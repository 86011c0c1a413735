# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What the day-2 modules (snapshot, backup, restore, ha) share: they act on an existing guest of either kind.

GuestTargetModule finds that guest cluster-wide by VMID or name (one /cluster/resources read, the Guest of
guest.py), names it the way PVE does (VM/CT) and builds its API paths.
"""

from __future__ import annotations

import re

from ansible_collections.pve.cloud.plugins.module_utils.api import Backoff, PVEError, api_argument_spec
from ansible_collections.pve.cloud.plugins.module_utils.base import InputError, PVEModule, content_types
from ansible_collections.pve.cloud.plugins.module_utils.guest import Guest

LABELS = dict(qemu='VM', lxc='CT')
# PVE's pve-configid format (snapshot names): a letter, then letters, digits, '-' or '_'
CONFIGID_RE = re.compile(r'^[a-zA-Z][a-zA-Z0-9_-]+$')
# vzdump's archive names (PVE::Storage archive_info): vzdump-TYPE-VMID-YYYY_MM_DD-HH_MM_SS.EXT
ARCHIVE_RE = re.compile(r'(?:^|[:/])vzdump-(?P<kind>qemu|lxc|openvz)-(?P<vmid>\d+)-\d{4}_\d\d_\d\d-\d\d_\d\d_\d\d\.')


def guest_argument_spec(timeouts, **extra):
    """The API options, the guest selection every day-2 module takes (vmid or name, optional kind) and
    `timeouts` with these defaults (seconds per kind of operation)."""
    spec = api_argument_spec()
    spec.update(
        vmid=dict(type='int'),
        name=dict(type='str'),
        kind=dict(type='str', choices=['qemu', 'lxc']),
        timeouts=dict(type='dict', default={},
                      options=dict((k, dict(type='int', default=v)) for k, v in timeouts.items())),
    )
    spec.update(extra)
    return spec


class GuestTargetModule(PVEModule):
    """A module that acts on one existing guest, VM or container."""

    def __init__(self, module):
        super(GuestTargetModule, self).__init__(module)
        self._resources = None

    def resources(self, refresh=False):
        """Every guest of the cluster: one GET /cluster/resources?type=vm (cached for the run)."""
        if self._resources is None or refresh:
            self._resources = self.client.get('/cluster/resources', type='vm') or []
        return self._resources

    def lookup(self, vmid=None, name=None, kind=None, refresh=False):
        """The guest with this VMID, else the one guest named so; None when there is none."""
        guests = [Guest.from_resource(e) for e in self.resources(refresh) if e.get('vmid') is not None]
        if vmid is not None:
            found = [g for g in guests if g.vmid == int(vmid)]
            if found and kind and found[0].kind != kind:
                raise InputError('kind', 'VMID %s is a %s guest, not %s: fix kind or vmid' % (vmid, found[0].kind, kind))
            return found[0] if found else None
        named = [g for g in guests if g.name == name and (kind is None or g.kind == kind)]
        if len(named) > 1:
            raise InputError('name', "%d guests are named '%s' (VMIDs %s): set vmid to pick one"
                             % (len(named), name, ', '.join(str(g.vmid) for g in sorted(named, key=lambda g: g.vmid))))
        return named[0] if named else None

    def target(self):
        """The guest the options name; an InputError when it does not exist (or is not visible)."""
        p = self.params
        if p['vmid'] is None and not p['name']:
            raise InputError('vmid', 'set vmid or name to say which guest')
        guest = self.lookup(p['vmid'], p['name'], p.get('kind'))
        if guest is None:
            if p['vmid'] is not None:
                raise InputError('vmid', 'VMID %s does not exist or is not visible: fix vmid, or grant VM.Audit on it'
                                 % p['vmid'])
            raise InputError('name', "no guest named '%s' exists or is visible: fix name, or grant VM.Audit on it"
                             % p['name'])
        self.result.update(vmid=guest.vmid, node=guest.node, kind=guest.kind)
        return guest

    @staticmethod
    def path(guest, suffix=''):
        return '/nodes/%s/%s/%s%s' % (guest.node, guest.kind, guest.vmid, suffix)

    @staticmethod
    def describe(guest):
        return '%s %s%s' % (LABELS.get(guest.kind, guest.kind), guest.vmid, " ('%s')" % guest.name if guest.name else '')

    def where(self, guest):
        return '%s on node %s' % (self.describe(guest), guest.node)

    def wait_unlocked(self, guest):
        """Wait within timeouts.lock until the guest's config has no lock; returns the config."""
        wait = Backoff(self.timeouts['lock'], first=0.2, cap=3.0)
        while True:
            config = self.client.get(self.path(guest, '/config')) or {}
            if not config.get('lock'):
                return config
            if not wait.sleep():
                raise PVEError('%s is locked (%s) by another task; waited %ss (timeouts.lock) for it to finish. Look '
                               'at the running tasks there, or raise timeouts.lock'
                               % (self.where(guest), config['lock'], self.timeouts['lock']),
                               kind='timeout', path=self.path(guest, '/config'), reason='lock', lock=config['lock'])

    # -- backups -------------------------------------------------------------------------------

    def backup_storages(self, node, storage=None):
        """The enabled storages of `node` that hold backups (or just `storage`)."""
        return sorted(sid for sid, entry in self.node_storages(node).items()
                      if 'backup' in content_types(entry) and str(entry.get('enabled', 1)) != '0'
                      and str(entry.get('active', 1)) != '0' and (storage is None or sid == storage))

    def list_backups(self, node, storage, vmid=None):
        """The backups on one storage, as PVE lists them (volid, vmid, subtype, format, size, ctime, notes...)."""
        params = dict(content='backup')
        if vmid is not None:
            params['vmid'] = vmid
        entries = self.client.get('/nodes/%s/storage/%s/content' % (node, storage), **params) or []
        return [dict(entry, storage=storage, node=node) for entry in entries]


def archive_kind(volid):
    """'qemu' or 'lxc' from a vzdump archive name (vzdump-qemu-100-...), None when the name says neither."""
    match = ARCHIVE_RE.search(volid or '')
    return match.group('kind') if match else None


def archive_vmid(volid):
    match = ARCHIVE_RE.search(volid or '')
    return int(match.group('vmid')) if match else None
