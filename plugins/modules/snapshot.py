#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: snapshot
short_description: Snapshots of Proxmox VE virtual machines and containers
version_added: 0.3.0
description:
  - Takes, removes and rolls back to snapshots of a VM or container, found cluster-wide by O(vmid) or O(name).
  - Snapshots this module takes are marked by C([pve.cloud.snapshot]) at the end of their description. Only
    marked snapshots are ever removed by O(retain); snapshots taken by hand, by vzdump or by other tools are
    never touched by it.
  - A snapshot cannot be changed after it is taken, except for its description; O(vmstate) only matters when
    the snapshot is taken.
author:
  - pve.cloud developers (@pve-cloud)
extends_documentation_fragment:
  - pve.cloud.api
  - pve.cloud.api.actiongroups
attributes:
  check_mode:
    description: Plans the snapshot, its removal, the rollback and what O(retain) would remove, and sends no
      write.
    support: full
  diff_mode:
    description: The guest's snapshot names, and the managed snapshot's description, before and after.
    support: full
options:
  vmid:
    description: VMID of the guest. One of O(vmid) and O(name) is required; O(vmid) wins when both are set.
    type: int
  name:
    description: Name of the guest (the VM name or the container host name); must name exactly one guest.
    type: str
  kind:
    description: V(qemu) or V(lxc); only checked against the guest found, the kind is read from the cluster.
    type: str
    choices: [qemu, lxc]
  snapname:
    description:
      - Name of the snapshot, as PVE requires it (a letter, then letters, digits, C(-) or C(_), 2 to 40
        characters); V(current) and V(pending) are reserved.
    type: str
    required: true
  state:
    description:
      - V(present) takes the snapshot when it does not exist (and updates its description when it does).
      - V(absent) removes it when it exists.
      - V(rollback) rolls the guest back to it. This is an action, not a state, so it rolls back on every run
        (PVE cannot tell whether the disks changed since). PVE stops a running guest first; a VM snapshot with
        RAM (O(vmstate)) resumes running from it.
    type: str
    choices: [present, absent, rollback]
    default: present
  description:
    description:
      - Description of the snapshot. On an existing snapshot it is updated when it differs; unset leaves it alone.
    type: str
  vmstate:
    description:
      - Save the RAM of a running VM with the snapshot, so a rollback resumes it where it was. A stopped VM has
        no RAM to save (PVE then takes a disk-only snapshot). Containers have no RAM snapshots.
    type: bool
    default: false
  retain:
    description:
      - With O(state=present), keep only the O(retain) newest snapshots this module took of the guest (those with
        the marker), counting O(snapname); the oldest others are removed. The snapshot O(snapname) is never
        removed by it.
    type: int
  start:
    description: With O(state=rollback), start the guest after the rollback (when the snapshot has no RAM).
    type: bool
    default: false
  force:
    description: With O(state=absent), remove the snapshot even when its volume snapshots cannot all be removed
      (PVE's C(force)).
    type: bool
    default: false
  timeouts:
    description: Seconds to wait per kind of operation.
    type: dict
    default: {}
    suboptions:
      snapshot:
        description: Taking a snapshot (with RAM it takes as long as writing the RAM out).
        type: int
        default: 600
      delete:
        description: Removing a snapshot.
        type: int
        default: 600
      rollback:
        description: Rolling back.
        type: int
        default: 600
      lock:
        description: Waiting for another task's lock on the guest (a backup, a clone) to go away.
        type: int
        default: 60
notes:
  - Taking a snapshot needs C(VM.Snapshot) on the guest, rolling back C(VM.Snapshot.Rollback).
seealso:
  - module: pve.cloud.backup
'''

EXAMPLES = r'''
- name: Snapshot before the upgrade, keeping the three newest upgrade snapshots
  pve.cloud.snapshot:
    name: web1
    snapname: "pre-upgrade-{{ ansible_date_time.date | replace('-', '') }}"
    description: before the upgrade to 2.4
    vmstate: true
    retain: 3

- name: Roll back when the upgrade failed
  pve.cloud.snapshot:
    vmid: 101
    snapname: pre-upgrade-20261202
    state: rollback
    start: true

- name: Remove the snapshot
  pve.cloud.snapshot:
    vmid: 101
    snapname: pre-upgrade-20261202
    state: absent
'''

RETURN = r'''
vmid:
  description: VMID of the guest.
  returned: always
  type: int
node:
  description: Node of the guest.
  returned: always
  type: str
kind:
  description: V(qemu) or V(lxc).
  returned: always
  type: str
snapshot:
  description: The snapshot after the task (in check mode, as planned); absent with O(state=absent).
  returned: when state is present or rollback
  type: dict
  contains:
    name:
      description: Its name.
      type: str
    description:
      description: Its description, without the marker.
      type: str
    vmstate:
      description: Whether it holds the VM's RAM.
      type: bool
    snaptime:
      description: When it was taken (Unix time); null when planned only.
      type: int
    parent:
      description: The snapshot it was taken after, if any.
      type: str
    managed:
      description: Whether this module took it (it carries the marker and counts for O(retain)).
      type: bool
snapshots:
  description: The names of the guest's snapshots after the task, oldest first.
  returned: always
  type: list
  elements: str
  sample: [install, pre-upgrade-20261201, pre-upgrade-20261202]
removed:
  description: The snapshots O(retain) removed (or would remove, in check mode), oldest first.
  returned: always
  type: list
  elements: str
actions:
  description: What was done (or would be done in check mode), in order.
  returned: always
  type: list
  elements: dict
  sample: [{action: snapshot, snapname: pre-upgrade, vmstate: true}, {action: remove, snapname: pre-upgrade-old}]
tasks:
  description: The UPIDs of the tasks started.
  returned: always
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pve.cloud.plugins.module_utils.base import InputError
from ansible_collections.pve.cloud.plugins.module_utils.day2 import CONFIGID_RE, GuestTargetModule, guest_argument_spec

MARKER = '[pve.cloud.snapshot]'
RESERVED = ('current', 'pending')


def marked(description):
    return description is not None and (description == MARKER or description.endswith(' ' + MARKER))


def plain(description):
    """The description without the marker."""
    if description == MARKER:
        return ''
    if marked(description):
        return description[:-len(MARKER) - 1]
    return description or ''


def with_marker(description):
    return '%s %s' % (description, MARKER) if description else MARKER


class Snapshot(GuestTargetModule):
    default_timeouts = dict(snapshot=600, delete=600, rollback=600, lock=60)

    def execute(self):
        self.check_input()
        self.guest = self.target()
        self.check_guest()
        self.snaps = self.list_snapshots()
        before = self.names()
        self.result.update(removed=[])
        getattr(self, 'state_' + self.params['state'])()
        self.record_diff('snapshots', before, self.names())
        self.result.update(snapshots=self.names(), diff=self.diff)

    # -- input ---------------------------------------------------------------------------------

    def check_input(self):
        p = self.params
        name = p['snapname']
        if not CONFIGID_RE.match(name) or len(name) > 40:
            raise InputError('snapname', "'%s' is not a snapshot name PVE takes: start with a letter, then letters, "
                                         "digits, '-' or '_', 2 to 40 characters" % name)
        if name.lower() in RESERVED:
            raise InputError('snapname', "'%s' is reserved by PVE: pick another name" % name)
        if p['retain'] is not None:
            if p['state'] != 'present':
                raise InputError('retain', 'retain works with state: present only')
            if p['retain'] < 1:
                raise InputError('retain', 'retain must be 1 or more (it counts the snapshot snapname)')
        if p['start'] and p['state'] != 'rollback':
            raise InputError('start', 'start works with state: rollback only')

    def check_guest(self):
        guest, p = self.guest, self.params
        if p['vmstate'] and guest.kind == 'lxc':
            raise InputError('vmstate', '%s is a container; containers have no RAM snapshots: drop vmstate'
                             % self.describe(guest))
        if guest.template and p['state'] != 'absent':
            raise InputError('state', '%s is a template; PVE takes no snapshots of templates nor rolls them back'
                             % self.describe(guest))

    # -- reads ---------------------------------------------------------------------------------

    def list_snapshots(self):
        """The guest's snapshots {name: entry}, without PVE's 'current' entry."""
        entries = self.client.get(self.path(self.guest, '/snapshot')) or []
        self.current = dict(([e for e in entries if e.get('name') == 'current'] or [{}])[0])
        return dict((e['name'], e) for e in entries if e.get('name') != 'current')

    def names(self):
        """Snapshot names, oldest first: by snaptime (whole seconds), then by depth in the parent chain."""
        def depth(entry, seen=()):
            parent = self.snaps.get(entry.get('parent'))
            return 0 if parent is None or parent['name'] in seen else 1 + depth(parent, seen + (entry['name'],))
        order = sorted(self.snaps.values(), key=lambda e: (e.get('snaptime') or float('inf'), depth(e), e['name']))
        return [e['name'] for e in order]

    def report(self, entry):
        self.result['snapshot'] = dict(name=entry['name'], description=plain(entry.get('description')),
                                       vmstate=bool(int(entry.get('vmstate') or 0)), snaptime=entry.get('snaptime'),
                                       parent=entry.get('parent'), managed=marked(entry.get('description')))

    # -- states --------------------------------------------------------------------------------

    def state_present(self):
        p, name = self.params, self.params['snapname']
        entry = self.snaps.get(name)
        before = None if entry is None else plain(entry.get('description'))
        if entry is None:
            entry = self.take()
        elif p['description'] is not None and before != p['description']:
            self.set_description(entry)
        self.record_diff('description', before, plain(entry.get('description')))
        self.report(entry)
        if p['retain'] is not None:
            self.retain()

    def take(self):
        p, guest, name = self.params, self.guest, self.params['snapname']
        vmstate = bool(p['vmstate'] and guest.running)
        if p['vmstate'] and not guest.running:
            self.module.warn('%s is not running: the snapshot has no RAM to save (vmstate)' % self.describe(guest))
        description = with_marker(p['description'])
        if self.plan('snapshot', snapname=name, vmstate=vmstate):
            params = dict(snapname=name, description=description)
            if guest.kind == 'qemu':
                params['vmstate'] = 1 if vmstate else 0
            self.task('POST', self.path(guest, '/snapshot'), params, timeout=self.timeouts['snapshot'],
                      what="snapshot '%s' of %s" % (name, self.describe(guest)), holder=self.where(guest))
            self.snaps = self.list_snapshots()
            return self.snaps[name]
        entry = dict(name=name, description=description, vmstate=1 if vmstate else 0, snaptime=None,
                     parent=self.current.get('parent'))
        self.snaps[name] = entry
        return entry

    def set_description(self, entry):
        name, guest = entry['name'], self.guest
        want = self.params['description']
        # a snapshot this module took keeps its marker, so retain still counts it
        text = with_marker(want) if marked(entry.get('description')) else want
        if self.plan('describe', snapname=name):
            self.task('PUT', self.path(guest, '/snapshot/%s/config' % name), dict(description=text),
                      timeout=self.timeouts['snapshot'], what="description of snapshot '%s' of %s"
                      % (name, self.describe(guest)), holder=self.where(guest))
        entry['description'] = text

    def retain(self):
        keep, name = self.params['retain'], self.params['snapname']
        ours = [n for n in self.names() if marked(self.snaps[n].get('description'))]
        others = [n for n in ours if n != name]
        excess = len(others) + (1 if name in ours else 0) - keep
        for old in others[:max(excess, 0)]:
            self.remove(old, action='remove')
            self.result['removed'].append(old)

    def state_absent(self):
        name = self.params['snapname']
        if name in self.snaps:
            self.record_diff('description', plain(self.snaps[name].get('description')), None)
            self.remove(name, action='delete')

    def remove(self, name, action):
        guest = self.guest
        if self.plan(action, snapname=name):
            self.task('DELETE', self.path(guest, '/snapshot/%s' % name), dict(force=1) if self.params['force'] else None,
                      timeout=self.timeouts['delete'], what="removal of snapshot '%s' of %s"
                      % (name, self.describe(guest)), holder=self.where(guest))
        del self.snaps[name]

    def state_rollback(self):
        p, guest, name = self.params, self.guest, self.params['snapname']
        entry = self.snaps.get(name)
        if entry is None:
            raise InputError('snapname', "%s has no snapshot '%s' (snapshots: %s): fix snapname"
                             % (self.describe(guest), name, ', '.join(self.names()) or 'none'))
        vmstate = bool(int(entry.get('vmstate') or 0))
        if guest.running and not vmstate:
            self.module.warn('%s is running: PVE stops it for the rollback to a snapshot without RAM%s'
                             % (self.describe(guest), '' if p['start'] else ' (set start: true to start it again)'))
        if self.plan('rollback', snapname=name, start=bool(p['start'])):
            self.task('POST', self.path(guest, '/snapshot/%s/rollback' % name), dict(start=1) if p['start'] else None,
                      timeout=self.timeouts['rollback'], what="rollback of %s to snapshot '%s'"
                      % (self.describe(guest), name), holder=self.where(guest))
        self.report(entry)


def main():
    spec = guest_argument_spec(
        Snapshot.default_timeouts,
        snapname=dict(type='str', required=True),
        state=dict(type='str', default='present', choices=['present', 'absent', 'rollback']),
        description=dict(type='str'),
        vmstate=dict(type='bool', default=False),
        retain=dict(type='int'),
        start=dict(type='bool', default=False),
        force=dict(type='bool', default=False),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True, required_one_of=[('vmid', 'name')])
    Snapshot(module).run()


if __name__ == '__main__':
    main()
