#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: restore
short_description: Restore a vzdump backup of a Proxmox VE virtual machine or container
version_added: 0.3.0
description:
  - Restores a backup volume to a new VMID, or over an existing stopped guest with O(force).
  - A guest that exists at O(vmid) is left alone without O(force), so restoring to a new VMID twice restores
    once. With O(force) every run restores again (the guest's disks are replaced by the backup's).
  - VMs are restored with C(POST /nodes/{node}/qemu) and C(archive), containers with C(POST /nodes/{node}/lxc),
    C(ostemplate) and C(restore); the kind is read from the archive's name.
author:
  - pve.cloud developers (@pve-cloud)
extends_documentation_fragment:
  - pve.cloud.api
  - pve.cloud.api.actiongroups
attributes:
  check_mode:
    description: Checks the archive, the node, the storage and the target guest, and plans the restore; sends no
      write.
    support: full
  diff_mode:
    description: The guest at O(vmid) (VMID, node, status) before and after.
    support: full
options:
  archive:
    description: Volume id of the backup, as RV(pve.cloud.backup#module:volid) or
      RV(pve.cloud.backup_info#module:backups[].volid) return it.
    type: str
    required: true
  vmid:
    description: VMID to restore to; defaults to the VMID the backup was made of.
    type: int
  node:
    description:
      - Node to restore on; the archive's storage must be available there. Defaults to the node of the guest at
        O(vmid) when it exists.
    type: str
  storage:
    description: Storage for the restored disks; unset puts each disk on the storage it was backed up from.
    type: str
  force:
    description: Restore over the existing guest at O(vmid). It must be stopped and on O(node).
    type: bool
    default: false
  unique:
    description: Give the restored guest new MAC addresses (use it when the original still runs).
    type: bool
    default: false
  start:
    description: Start the guest after the restore.
    type: bool
    default: false
  pool:
    description: Resource pool to add the restored guest to.
    type: str
  timeouts:
    description: Seconds to wait per kind of operation.
    type: dict
    default: {}
    suboptions:
      restore:
        description: The restore task.
        type: int
        default: 3600
      lock:
        description: Waiting for another task's lock on the guest to go away.
        type: int
        default: 60
notes:
  - Needs C(VM.Allocate) (C(VM.Backup) as well over an existing guest) and C(Datastore.AllocateSpace) on the target
    storage.
seealso:
  - module: pve.cloud.backup
  - module: pve.cloud.backup_info
'''

EXAMPLES = r'''
- name: Restore web1's backup next to it, with new MACs
  pve.cloud.restore:
    archive: backup-nfs:backup/vzdump-qemu-101-2026_12_02-14_00_00.vma.zst
    vmid: 901
    node: pve1
    storage: local-lvm
    unique: true

- name: Roll web1 back to its backup (it must be stopped)
  pve.cloud.restore:
    archive: backup-nfs:backup/vzdump-qemu-101-2026_12_02-14_00_00.vma.zst
    force: true
    start: true
'''

RETURN = r'''
vmid:
  description: VMID of the restored guest.
  returned: always
  type: int
node:
  description: Node it was restored on.
  returned: always
  type: str
kind:
  description: V(qemu) or V(lxc).
  returned: always
  type: str
restored:
  description: Whether the backup was restored (false when the guest existed and O(force) was not set).
  returned: always
  type: bool
actions:
  description: What was done (or would be done in check mode).
  returned: always
  type: list
  elements: dict
  sample: [{action: restore, archive: "backup-nfs:backup/vzdump-qemu-101-2026_12_02-14_00_00.vma.zst", force: false}]
tasks:
  description: The UPIDs of the tasks started.
  returned: always
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pve.cloud.plugins.module_utils.base import InputError
from ansible_collections.pve.cloud.plugins.module_utils.day2 import (
    GuestTargetModule, archive_kind, archive_vmid, guest_argument_spec)


class Restore(GuestTargetModule):
    default_timeouts = dict(restore=3600, lock=60)

    def execute(self):
        p = self.params
        archive = p['archive']
        kind = archive_kind(archive)
        if ':' not in archive or kind not in ('qemu', 'lxc'):
            raise InputError('archive', "'%s' is not a vzdump archive volume (STORAGE:backup/vzdump-qemu|lxc-VMID-"
                                        "DATE.EXT): take the volid pve.cloud.backup or backup_info returns" % archive)
        vmid = p['vmid'] if p['vmid'] is not None else archive_vmid(archive)
        existing = self.lookup(vmid)
        node = p['node'] or (existing.node if existing else None)
        if not node:
            raise InputError('node', 'VMID %s does not exist, so set node to say where to restore it' % vmid)
        self.result.update(vmid=vmid, node=node, kind=kind, restored=False)
        before = self.summary(existing)
        if existing is not None:
            if not p['force']:
                self.result.update(node=existing.node, diff=dict(before=before, after=before))
                return
            self.check_overwrite(existing, kind, node)
        self.check_node(node)
        self.check_archive(node, archive)
        if p['storage']:
            self.check_storage(node, p['storage'], 'images' if kind == 'qemu' else 'rootdir')
        if p['pool']:
            self.check_pool(p['pool'])
        after = dict(vmid=vmid, node=node, status='running' if p['start'] else 'stopped')
        self.result['diff'] = dict(before=before, after=after)
        if self.plan('restore', archive=archive, force=bool(existing)):
            self.send(kind, node, vmid, existing)
        self.result['restored'] = True

    @staticmethod
    def summary(guest):
        if guest is None:
            return {}
        return dict(vmid=guest.vmid, node=guest.node, status=guest.status)

    def check_overwrite(self, guest, kind, node):
        if guest.kind != kind:
            raise InputError('vmid', '%s is a %s guest and the archive a %s backup: restore to another vmid'
                             % (self.describe(guest), guest.kind, kind))
        if guest.node != node:
            raise InputError('node', '%s is on node %s; PVE restores over it only there: set node to %s'
                             % (self.describe(guest), guest.node, guest.node))
        if guest.running:
            raise InputError('force', '%s is running: stop it first (PVE refuses to restore over a running guest)'
                             % self.describe(guest))
        if guest.template:
            raise InputError('force', '%s is a template: restore to another vmid' % self.describe(guest))

    def check_archive(self, node, archive):
        storage = archive.split(':', 1)[0]
        if storage not in self.backup_storages(node):
            raise InputError('archive', "storage '%s' of the archive holds no backups on node '%s': restore on the "
                                        "node the backup was made on, or use a shared backup storage" % (storage, node))
        if archive not in [b['volid'] for b in self.list_backups(node, storage, archive_vmid(archive))]:
            raise InputError('archive', "backup '%s' does not exist on node '%s' (pve.cloud.backup_info lists them)"
                             % (archive, node))

    def send(self, kind, node, vmid, existing):
        p = self.params
        params = dict(vmid=vmid)
        if kind == 'qemu':
            params['archive'] = p['archive']
        else:
            params.update(ostemplate=p['archive'], restore=1)
        for key in ('storage', 'pool'):
            if p[key]:
                params[key] = p[key]
        for key in ('force', 'unique', 'start'):
            if p[key]:
                params[key] = 1
        if existing is not None and existing.lock:
            self.wait_unlocked(existing)
        self.task('POST', '/nodes/%s/%s' % (node, kind), params, timeout=self.timeouts['restore'],
                  what='restore of %s to %s %s' % (p['archive'], 'VM' if kind == 'qemu' else 'CT', vmid),
                  holder=self.where(existing) if existing is not None else None)


def main():
    spec = guest_argument_spec(
        Restore.default_timeouts,
        archive=dict(type='str', required=True),
        node=dict(type='str'),
        storage=dict(type='str'),
        force=dict(type='bool', default=False),
        unique=dict(type='bool', default=False),
        start=dict(type='bool', default=False),
        pool=dict(type='str'),
    )
    for key in ('name', 'kind'):
        spec.pop(key)
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    Restore(module).run()


if __name__ == '__main__':
    main()
