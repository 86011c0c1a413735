#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: backup
short_description: One-off vzdump backup of a Proxmox VE virtual machine or container
version_added: 0.3.0
description:
  - Backs up one guest, found cluster-wide by O(vmid) or O(name), with vzdump on the guest's node, follows the
    task and returns the backup volume it made.
  - A backup is an action, so every run makes a new one, unless O(reuse_within) accepts a recent backup of the
    guest on O(storage) instead (then a second run changes nothing).
  - To back up several guests, loop over them; each gets its own task and volume.
author:
  - pve.cloud developers (@pve-cloud)
extends_documentation_fragment:
  - pve.cloud.api
  - pve.cloud.api.actiongroups
attributes:
  check_mode:
    description: Checks the guest and the storage and plans the backup; sends no write.
    support: full
  diff_mode:
    description: The guest's backups on O(storage) before and after.
    support: full
options:
  vmid:
    description: VMID of the guest. One of O(vmid) and O(name) is required.
    type: int
  name:
    description: Name of the guest (VM name or container host name); must name exactly one guest.
    type: str
  kind:
    description: V(qemu) or V(lxc); only checked against the guest found.
    type: str
    choices: [qemu, lxc]
  storage:
    description: Storage to write the backup to; it must allow C(backup) content on the guest's node.
    type: str
    required: true
  mode:
    description:
      - V(snapshot) backs up the running guest live, V(suspend) pauses it meanwhile, V(stop) shuts it down for the
        backup and starts it again afterwards.
    type: str
    choices: [snapshot, suspend, stop]
    default: snapshot
  compress:
    description: Compression of the archive; V(none) writes it uncompressed.
    type: str
    choices: [none, zstd, gzip, lzo]
    default: zstd
  notes:
    description:
      - Notes of the backup volume. vzdump fills in C({{guestname}}), C({{vmid}}), C({{node}}) and C({{cluster}})
        (write them as C({{ '{{guestname}}' }}) in a playbook).
    type: str
  protected:
    description: Protect the backup from pruning and removal.
    type: bool
    default: false
  reuse_within:
    description:
      - Seconds. When the guest already has a backup on O(storage) that is at most this old, no new backup is
        made and that one is returned (RV(reused) is true).
    type: int
  timeouts:
    description: Seconds to wait per kind of operation.
    type: dict
    default: {}
    suboptions:
      backup:
        description: The vzdump task.
        type: int
        default: 3600
      lock:
        description: Waiting for another task's lock on the guest (a migration, a snapshot) to go away first.
        type: int
        default: 60
notes:
  - Needs C(VM.Backup) on the guest and C(Datastore.AllocateSpace) on the storage.
seealso:
  - module: pve.cloud.backup_info
  - module: pve.cloud.restore
  - module: pve.cloud.snapshot
'''

EXAMPLES = r'''
- name: Back up web1 before the upgrade
  pve.cloud.backup:
    name: web1
    storage: backup-nfs
    mode: snapshot
    notes: "before the upgrade of {{ '{{guestname}}' }}"
  register: bk

- name: Show the volume
  ansible.builtin.debug:
    msg: "{{ bk.volid }}"

- name: A nightly backup, at most one a day
  pve.cloud.backup:
    vmid: "{{ item }}"
    storage: backup-nfs
    reuse_within: 86400
  loop: [101, 102, 103]
'''

RETURN = r'''
vmid:
  description: VMID of the guest.
  returned: always
  type: int
node:
  description: Node of the guest, where vzdump ran.
  returned: always
  type: str
kind:
  description: V(qemu) or V(lxc).
  returned: always
  type: str
volid:
  description: The backup volume made (or reused); null in check mode when a backup is planned.
  returned: always
  type: str
  sample: backup-nfs:backup/vzdump-qemu-101-2026_12_02-14_00_00.vma.zst
backup:
  description: The backup volume as the storage lists it.
  returned: when a backup was made or reused
  type: dict
  contains:
    volid:
      description: Volume id.
      type: str
    size:
      description: Size in bytes.
      type: int
    format:
      description: Archive format, for example C(vma.zst) or C(tar.zst).
      type: str
    ctime:
      description: When it was made (Unix time).
      type: int
    notes:
      description: Its notes.
      type: str
reused:
  description: Whether an existing backup was returned because of O(reuse_within).
  returned: always
  type: bool
actions:
  description: What was done (or would be done in check mode).
  returned: always
  type: list
  elements: dict
  sample: [{action: backup, storage: backup-nfs, mode: snapshot}]
tasks:
  description: The UPIDs of the tasks started.
  returned: always
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pve.cloud.plugins.module_utils.api import PVEError
from ansible_collections.pve.cloud.plugins.module_utils.day2 import GuestTargetModule, guest_argument_spec

COMPRESS = dict(none='0', zstd='zstd', gzip='gzip', lzo='lzo')


class Backup(GuestTargetModule):
    default_timeouts = dict(backup=3600, lock=60)

    def execute(self):
        p = self.params
        guest = self.target()
        self.check_storage(guest.node, p['storage'], 'backup')
        before = self.list_backups(guest.node, p['storage'], guest.vmid)
        names = sorted(b['volid'] for b in before)
        self.result.update(reused=False, volid=None, diff=self.diff)
        recent = self.recent(guest, before)
        if recent is not None:
            self.result.update(reused=True, volid=recent['volid'], backup=recent)
            self.record_diff('backups', names, names)
            return
        if not self.plan('backup', storage=p['storage'], mode=p['mode']):
            self.record_diff('backups', names, names + ['(new backup)'])
            return
        if guest.lock:
            self.wait_unlocked(guest)
        self.dump(guest)
        after = self.list_backups(guest.node, p['storage'], guest.vmid)
        made = [b for b in after if b['volid'] not in names]
        if not made:
            raise PVEError('vzdump of %s finished, but no new backup is listed on storage %s'
                           % (self.describe(guest), p['storage']), kind='task')
        made.sort(key=lambda b: b.get('ctime') or 0)
        self.result.update(volid=made[-1]['volid'], backup=made[-1])
        self.record_diff('backups', names, sorted(b['volid'] for b in after))

    def recent(self, guest, backups):
        """The newest backup at most reuse_within seconds old, else None."""
        window = self.params['reuse_within']
        if window is None or not backups:
            return None
        # the node's clock, not the controller's, dates the backups
        now = int((self.client.get('/nodes/%s/time' % guest.node) or {}).get('time') or 0)
        fresh = [b for b in backups if (b.get('ctime') or 0) >= now - window]
        return max(fresh, key=lambda b: b.get('ctime') or 0) if fresh else None

    def dump(self, guest):
        p = self.params
        params = {'vmid': guest.vmid, 'storage': p['storage'], 'mode': p['mode'], 'compress': COMPRESS[p['compress']]}
        if p['notes']:
            params['notes-template'] = p['notes']
        if p['protected']:
            params['protected'] = 1
        result = self.task('POST', '/nodes/%s/vzdump' % guest.node, params, timeout=self.timeouts['backup'],
                           what='backup of %s' % self.describe(guest))
        if result.upid is None:
            # VZDump.pm answers a plain OK when the guest is not on that node (it moved meanwhile)
            raise PVEError('vzdump on node %s skipped %s: it is no longer on that node; run the task again'
                           % (guest.node, self.describe(guest)), kind='http')


def main():
    spec = guest_argument_spec(
        Backup.default_timeouts,
        storage=dict(type='str', required=True),
        mode=dict(type='str', default='snapshot', choices=['snapshot', 'suspend', 'stop']),
        compress=dict(type='str', default='zstd', choices=sorted(COMPRESS)),
        notes=dict(type='str'),
        protected=dict(type='bool', default=False),
        reuse_within=dict(type='int'),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True, required_one_of=[('vmid', 'name')])
    Backup(module).run()


if __name__ == '__main__':
    main()
