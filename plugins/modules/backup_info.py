#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: backup_info
short_description: List the vzdump backups of a Proxmox VE cluster, per guest
version_added: 0.3.0
description:
  - Lists the backup volumes (storage content C(backup)) of every online node's backup storages, or of the ones
    the options name; a shared storage is read once.
  - Backups of guests that no longer exist are listed too (select them by O(vmid)).
author:
  - pve.cloud developers (@pve-cloud)
extends_documentation_fragment:
  - pve.cloud.api
  - pve.cloud.api.actiongroups
  - pve.cloud.attributes
options:
  vmid:
    description: Only the backups of this VMID.
    type: int
  name:
    description: Only the backups of the guest with this name (it must exist; use O(vmid) for a deleted guest).
    type: str
  node:
    description: Only the storages of this node.
    type: str
  storage:
    description: Only this storage.
    type: str
notes:
  - Lists what the user may see; PVE leaves out backups of guests without C(VM.Audit) unless the user has
    C(Datastore.Allocate) on the storage.
seealso:
  - module: pve.cloud.backup
  - module: pve.cloud.restore
'''

EXAMPLES = r'''
- name: The backups of web1
  pve.cloud.backup_info:
    name: web1
  register: web1_backups

- name: Restore the newest one
  pve.cloud.restore:
    archive: "{{ (web1_backups.backups | last).volid }}"
    vmid: 901
    node: pve1
'''

RETURN = r'''
backups:
  description: The backups, oldest first.
  returned: always
  type: list
  elements: dict
  contains:
    volid:
      description: Volume id of the archive.
      type: str
    vmid:
      description: VMID of the guest it backs up.
      type: int
    kind:
      description: V(qemu) or V(lxc) (the C(subtype) PVE lists).
      type: str
    format:
      description: Archive format, for example C(vma.zst).
      type: str
    size:
      description: Size in bytes.
      type: int
    ctime:
      description: When it was made (Unix time).
      type: int
    notes:
      description: Its notes.
      type: str
    protected:
      description: Whether it is protected from pruning and removal.
      type: bool
    storage:
      description: Its storage.
      type: str
    node:
      description: The node it was listed from (any node for a shared storage).
      type: str
by_vmid:
  description: The volume ids of the backups per VMID, oldest first.
  returned: always
  type: dict
  sample: {"101": [backup-nfs:backup/vzdump-qemu-101-2026_12_01-01_00_00.vma.zst]}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pve.cloud.plugins.module_utils.api import api_argument_spec
from ansible_collections.pve.cloud.plugins.module_utils.day2 import GuestTargetModule, archive_kind


class BackupInfo(GuestTargetModule):

    def execute(self):
        p = self.params
        vmid = p['vmid']
        if vmid is None and p['name']:
            vmid = self.target().vmid
        found, seen_shared = [], set()
        for node in self.nodes():
            for sid in self.backup_storages(node, p['storage']):
                if self.node_storages(node)[sid].get('shared'):
                    if sid in seen_shared:
                        continue
                    seen_shared.add(sid)
                found.extend(self.entry(b) for b in self.list_backups(node, sid, vmid))
        found.sort(key=lambda b: (b['ctime'] or 0, b['volid']))
        by_vmid = {}
        for b in found:
            by_vmid.setdefault(str(b['vmid']), []).append(b['volid'])
        self.result.update(backups=found, by_vmid=by_vmid)
        self.result.pop('actions')
        self.result.pop('tasks')

    def nodes(self):
        nodes = sorted(n['node'] for n in self.client.get('/nodes') or [] if n.get('status', 'online') == 'online')
        if self.params['node']:
            self.check_node(self.params['node'])
            return [self.params['node']]
        return nodes

    @staticmethod
    def entry(b):
        return dict(volid=b['volid'], vmid=b.get('vmid'), kind=b.get('subtype') or archive_kind(b['volid']),
                    format=b.get('format'), size=b.get('size'), ctime=b.get('ctime'), notes=b.get('notes'),
                    protected=bool(int(b.get('protected') or 0)), storage=b['storage'], node=b['node'])


def main():
    spec = api_argument_spec()
    spec.update(vmid=dict(type='int'), name=dict(type='str'), node=dict(type='str'), storage=dict(type='str'))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    BackupInfo(module).run()


if __name__ == '__main__':
    main()
