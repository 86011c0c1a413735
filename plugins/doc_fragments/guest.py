# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment(object):

    # The options every guest module (pve.cloud.qemu, pve.cloud.lxc) has, with the same meaning.
    DOCUMENTATION = r'''
notes:
  - Given both O(vmid) and O(node), the guest is read on that node (C(GET .../pending) for its config and pending
    changes, C(GET .../status/current) for its power state), with no call to C(/cluster/resources); a no-op then
    costs those two reads (plus the addresses with O(wait_for_ip)). When that node answers that it has no such
    guest (it was migrated, or the vmid is of the other kind), or the guest there has another name, or it is not in
    O(pool), the guest is looked up cluster-wide as without O(node), so it is found wherever it is and never
    created a second time.
options:
  state:
    description:
      - V(present) the guest exists and is configured; its power state is not touched.
      - V(started) and V(stopped) also set the power state. Stopping is a graceful shutdown within
        O(timeouts.shutdown); a hard stop follows only with O(force=true).
      - V(restarted) reboots a running guest (PVE's reboot call) and starts a stopped one (it always reports a change).
      - V(absent) destroys the guest and its volumes. A running guest is refused unless O(force=true).
      - V(template) configures the guest, shuts it down (as for V(stopped)) and converts it to a template.
        A template is never started, and is not reconfigured unless the state is V(template).
    type: str
    choices: [present, started, stopped, restarted, absent, template]
    default: present
  force:
    description:
      - With O(state=stopped) or O(state=template), stop the guest hard when the graceful shutdown did not finish
        within O(timeouts.shutdown).
      - With O(state=absent), stop and destroy a running guest.
    type: bool
    default: false
  purge:
    description:
      - With O(state=absent), also remove the guest from backup jobs, replication jobs and HA resources.
    type: bool
    default: false
  timeouts:
    description:
      - Seconds to wait for each kind of operation. Tasks are polled on their own node with back-off; a task
        that fails ends the module at once with PVE's exit status and the end of its log.
    type: dict
    default: {}
    suboptions:
      create:
        description: Creating the guest (QEMU cloud image imports and LXC template unpacking included).
        type: int
        default: 900
      clone:
        description: Cloning (full clones copy every volume).
        type: int
        default: 900
      config:
        description: A config update (it may allocate or import volumes).
        type: int
        default: 300
      resize:
        description: Growing one disk or mount point.
        type: int
        default: 300
      start:
        description: Starting the guest.
        type: int
        default: 120
      shutdown:
        description: Graceful shutdown (passed to PVE as the shutdown timeout).
        type: int
        default: 180
      stop:
        description: Hard stop.
        type: int
        default: 60
      reboot:
        description: Reboot.
        type: int
        default: 300
      destroy:
        description: Destroying the guest.
        type: int
        default: 300
      template:
        description: Conversion to a template.
        type: int
        default: 300
      lock:
        description:
          - How long to wait for a lock held by another task (for example C(VM is locked (backup)) or C(CT is locked (backup)) or a
            lock-file timeout) before failing with the lock's name.
        type: int
        default: 60
      ip:
        description: How long O(wait_for_ip) waits for an address (QEMU guest agent, LXC interfaces).
        type: int
        default: 300
      migrate:
        description: A migration with O(migrate=true), including the HA manager's move of an HA-managed guest.
        type: int
        default: 1800
  migrate:
    description:
      - Move an existing guest that is on another node than O(node) there. A running VM migrates live, a running
        container by a restart on the target; an HA-managed guest moves through HA (the module waits until the
        cluster shows it on O(node)). Without it, a guest elsewhere is only reported (a warning).
      - PVE's precondition answer (target offline, storage unavailable there, local resources, local disks of a
        running VM without O(with_local_disks)) fails the task before any write.
    type: bool
    default: false
  with_local_disks:
    description: With O(migrate=true), copy the disks of a running VM that are on local storage (PVE's C(with-local-disks)).
    type: bool
    default: false
  target_storage:
    description: With O(migrate=true), the storage on the target node for the guest's local volumes.
    type: str
  full:
    description:
      - Full clone (copies the disks) instead of a linked clone. PVE's default is a linked clone of a template and a
        full clone of anything else.
    type: bool
  snapname:
    description: Clone from this snapshot of the source.
    type: str
  target:
    description:
      - Node the clone is created on, when it differs from the source's node (PVE's rules for storage are checked before anything
        is written). Defaults to O(node), then to the source's node.
    type: str
  onboot:
    description: Start the guest when its node boots.
    type: bool
  tags:
    description: Tags. Order and separators do not matter; an empty list removes all tags.
    type: list
    elements: str
  description:
    description: Notes shown in the guest's summary.
    type: str
  pool:
    description: Resource pool of the guest. A guest in another pool is moved to this one.
    type: str
  protection:
    description: Protection flag (PVE refuses to destroy a protected guest or remove its volumes).
    type: bool
  reboot_if_needed:
    description:
      - When PVE keeps changes of a running guest pending (they need a restart), reboot the guest to apply them.
      - Without it the pending changes are returned in RV(pending) and RV(reboot_required).
    type: bool
    default: false
'''

    # The filters of every guest *_info module (pve.cloud.qemu_info, pve.cloud.lxc_info), applied to one
    # /cluster/resources answer.
    INFO = r'''
options:
  name:
    description: Only the guests with this name (for containers, the host name).
    type: str
  vmid:
    description: Only the guest with this VMID.
    type: int
  node:
    description: Only the guests on this node.
    type: str
  pool:
    description: Only the guests in this resource pool.
    type: str
  tags:
    description: Only the guests that carry every one of these tags.
    type: list
    elements: str
  template:
    description: V(true) lists only templates, V(false) leaves templates out; by default both.
    type: bool
'''
