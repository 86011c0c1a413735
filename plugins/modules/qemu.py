#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: qemu
short_description: Create, clone, configure, power and destroy QEMU virtual machines on Proxmox VE
version_added: 0.1.0
description:
  - Makes a QEMU/KVM virtual machine of a Proxmox VE cluster match the task, idempotently.
  - The VM is found cluster-wide by O(vmid) or O(name) with one call to C(/cluster/resources), so a VM that
    was migrated is still found; O(node) is only where a new VM is created.
  - A missing VM is created from scratch or cloned (O(clone)) and then configured in the same task.
  - Only the keys the task mentions are managed. Values are compared the way PVE means them (property-string
    order, defaults, generated MAC addresses, sizes in any unit, tag order, URL-encoded SSH keys, 0/1
    booleans) and only changed keys are written, in one config call guarded by the config C(digest).
    A second identical run changes nothing and sends no write.
  - Disks are created as C(STORAGE:SIZE), grown with the resize call, never shrunk, moved or recreated.
  - In check mode nothing is written; the result has the planned O(ignore:actions) and the diff.
author:
  - pve.cloud developers (@pve-cloud)
extends_documentation_fragment:
  - pve.cloud.api
  - pve.cloud.api.actiongroups
attributes:
  check_mode:
    description: Nothing is written; RV(actions) and RV(diff) show what would be done.
    support: full
  diff_mode:
    description: RV(diff) has the managed config keys before and after.
    support: full
options:
  name:
    description:
      - Name of the VM (a DNS name). Identifies the VM when O(vmid) is not given; two VMs with this name are
        an error listing both VMIDs.
      - With O(vmid), the VM is renamed to O(name) if needed.
    type: str
  vmid:
    description:
      - ID of the VM. When a new VM has no O(vmid), a free one is allocated safely (parallel runs get
        distinct ids; an id taken in the meantime makes it pick another).
    type: int
  node:
    description:
      - Node on which a new VM is created (required to create without O(clone)); checked against the cluster
        before anything is written.
      - An existing VM is found on whatever node it runs; it is not migrated.
    type: str
  state:
    description:
      - V(present) the VM exists and is configured; its power state is not touched.
      - V(started) and V(stopped) also set the power state. Stopping is a graceful shutdown within
        O(timeouts.shutdown); a hard stop follows only with O(force=true).
      - V(restarted) reboots a running VM and starts a stopped one (it always reports a change).
      - V(absent) destroys the VM and its disks. A running VM is refused unless O(force=true).
      - V(template) configures the VM, shuts it down (as for V(stopped)) and converts it to a template.
        A template is never started, and is not reconfigured unless the state is V(template).
    type: str
    choices: [present, started, stopped, restarted, absent, template]
    default: present
  force:
    description:
      - With O(state=stopped) or O(state=template), stop the VM hard when the graceful shutdown did not finish
        within O(timeouts.shutdown).
      - With O(state=absent), stop and destroy a running VM.
    type: bool
    default: false
  purge:
    description:
      - With O(state=absent), also remove the VM from backup jobs, replication jobs and HA resources.
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
        description: Creating a VM (imports of cloud images included).
        type: int
        default: 900
      clone:
        description: Cloning (full clones copy every disk).
        type: int
        default: 900
      config:
        description: A config update (it may allocate or import disks).
        type: int
        default: 300
      resize:
        description: Growing one disk.
        type: int
        default: 300
      start:
        description: Starting the VM.
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
        description: Destroying the VM.
        type: int
        default: 300
      template:
        description: Conversion to a template.
        type: int
        default: 300
      lock:
        description:
          - How long to wait for a lock held by another task (for example C(VM is locked (backup)) or a
            lock-file timeout) before failing with the lock's name.
        type: int
        default: 60
      ip:
        description: How long O(wait_for_ip) waits for the guest agent to report an address.
        type: int
        default: 300
  clone:
    description:
      - Name or VMID of a VM or template to clone when the VM does not exist yet. The clone is then configured
        with the other options in the same task.
      - The source must exist (checked before anything is written). An existing target VM is never cloned
        again.
    type: str
  full:
    description:
      - Full clone (copies the disks) instead of a linked clone. PVE's default is a linked clone of a template and a
        full clone of a VM.
    type: bool
  storage:
    description: Target storage of a full clone's disks.
    type: str
  format:
    description: Disk format of a full clone on file storage.
    type: str
    choices: [raw, qcow2, vmdk]
  snapname:
    description: Clone from this snapshot of the source.
    type: str
  target:
    description:
      - Node the clone is created on, when it differs from the source's node (the source's disks must be on
        shared storage). Defaults to O(node), then to the source's node.
    type: str
  cores:
    description: CPU cores per socket.
    type: int
  sockets:
    description: CPU sockets.
    type: int
  vcpus:
    description: Number of hot-plugged vCPUs.
    type: int
  memory:
    description: Memory in MiB. On a running VM, PVE keeps the change pending unless memory hotplug is enabled.
    type: int
  balloon:
    description: Target memory of the balloon device in MiB; V(0) disables ballooning.
    type: int
  cpu:
    description: CPU type, or PVE's full C(cpu) property string (for example V(host) or V(x86-64-v2-AES,flags=+aes)).
    type: str
  machine:
    description: QEMU machine type, or its property string (for example V(q35)).
    type: str
  bios:
    description: Firmware.
    type: str
    choices: [seabios, ovmf]
  ostype:
    description: Guest operating system type (for example V(l26), V(win11)).
    type: str
  scsihw:
    description: SCSI controller model (for example V(virtio-scsi-single)).
    type: str
  agent:
    description:
      - QEMU guest agent. V(true)/V(false), a property string such as V(1,fstrim_cloned_disks=1), or a dict
        with the keys of PVE's C(agent) property string (C(enabled), C(freeze-fs), C(fstrim_cloned_disks), C(type)).
    type: raw
  onboot:
    description: Start the VM when its node boots.
    type: bool
  boot:
    description: Boot order in PVE's form, for example V(order=scsi0;ide2;net0).
    type: str
  tags:
    description: Tags. Order and separators do not matter; an empty list removes all tags.
    type: list
    elements: str
  description:
    description: Notes shown in the VM summary.
    type: str
  pool:
    description: Resource pool of the VM. A VM in another pool is moved to this one.
    type: str
  protection:
    description: Protection flag (PVE refuses to destroy a protected VM or remove its disks).
    type: bool
  efidisk0:
    description:
      - EFI vars disk, for O(bios=ovmf). A dict (C(storage), C(efitype), C(pre_enrolled_keys), C(format)) or a
        property string such as V(local-lvm:1,efitype=4m,pre-enrolled-keys=1). Created once, never recreated.
    type: raw
  tpmstate0:
    description:
      - TPM state disk. A dict (C(storage), C(version)) or a property string such as V(local-lvm:1,version=v2.0).
    type: raw
  networks:
    description:
      - Network devices keyed by C(net0) ... C(net31). Each value is a PVE property string
        (V(virtio,bridge=vmbr0,tag=20)) or a dict with the keys of PVE's C(netN) property string, C(model)
        (default V(virtio)), C(bridge), C(tag), C(firewall), C(macaddr), C(mtu), C(queues), C(rate),
        C(link_down), C(trunks).
      - The value is complete (sub-keys you leave out are removed, for example a C(firewall=1)) except the MAC
        address, which PVE generated and which is kept.
      - V(null) removes the device.
    type: dict
  disks:
    description:
      - Drives keyed by slot (C(scsi0) ... C(scsi30), C(virtio0) ... C(virtio15), C(sata0) ... C(sata5),
        C(ide0) ... C(ide3)).
      - Each value is a PVE property string or a dict. New disk - C(storage) and C(size) (V(32G), V(32768M),
        V(0.5T); a plain number is GiB), as PVE's V(local-lvm:32). Cloud image - C(storage) and C(import_from)
        (a volume with C(import) content such as V(local:import/debian-13-genericcloud-amd64.qcow2)), as
        V(local-lvm:0,import-from=...); with C(size) the imported disk is then grown to it. Existing volume or
        CD-ROM - C(file) (V(local:iso/debian-13.iso), V(none)) with C(media=cdrom). Any other key of PVE's drive
        property string is an option (C(cache), C(discard) (bool or V(on)/V(ignore)), C(ssd), C(iothread),
        C(backup), C(replicate), C(aio), C(serial)...).
      - An existing disk is grown when C(size) is larger, refused (before any write) when it is smaller or on
        another storage, and never recreated; C(import_from) is ignored once the disk exists. Options you do
        not mention are kept.
      - V(null) detaches the disk (PVE keeps the volume as C(unusedN)).
    type: dict
  cloudinit_drive:
    description:
      - Storage of the cloud-init drive, for example V(local-lvm) (V(local-lvm:cloudinit) is accepted too). It is
        added on C(ide2) unless the VM already has a cloud-init drive.
    type: str
  ciuser:
    description: Cloud-init user.
    type: str
  cipassword:
    description:
      - Cloud-init password. PVE only returns it masked, so it is set when the VM has none (for example on
        create) and not compared afterwards.
    type: str
  sshkeys:
    description: Cloud-init SSH public keys, one per item (PVE's URL encoding is handled); an empty list removes them.
    type: list
    elements: str
  ipconfig:
    description:
      - Cloud-init IP configuration keyed by C(ipconfig0) ... C(ipconfig31) (or just the index, V(0)). Each value is
        PVE's string (V(ip=10.0.0.5/24,gw=10.0.0.1), V(ip=dhcp)) or a dict with C(ip), C(gw), C(ip6), C(gw6).
    type: dict
  nameserver:
    description: Cloud-init DNS servers.
    type: list
    elements: str
  searchdomain:
    description: Cloud-init DNS search domains.
    type: list
    elements: str
  cicustom:
    description: Cloud-init custom snippets, for example V(user=local:snippets/user.yml).
    type: str
  citype:
    description: Cloud-init configuration format.
    type: str
    choices: [configdrive2, nocloud, opennebula]
  ciupgrade:
    description: Cloud-init package upgrade on first boot.
    type: bool
  config:
    description:
      - Any other key of PVE's QEMU config (for example C(numa), C(hotplug), C(serial0), C(vga)), with PVE's value.
        V(null) deletes the key. Unknown keys are refused before anything is written.
      - A key set both here and through its own option (for example O(cores) and C(config.cores)) is refused.
    type: dict
  reboot_if_needed:
    description:
      - When PVE keeps changes of a running VM pending (they need a restart), reboot the VM to apply them.
      - Without it the pending changes are returned in RV(pending) and RV(reboot_required).
    type: bool
    default: false
  wait_for_ip:
    description:
      - Wait (up to O(timeouts.ip)) until the QEMU guest agent reports an IP address; return them in
        RV(ip_addresses). Needs O(agent) enabled and the agent running in the guest.
    type: bool
    default: false
notes:
  - A change of a cloud-init value on an existing VM regenerates its cloud-init drive (RV(actions) has
    C(regenerate_cloudinit)).
  - When the answer to a create or clone call is lost, the module looks the VM up by vmid and name before it
    decides anything; it never creates a second VM.
  - A VM locked by another task is waited for up to O(timeouts.lock), then the failure names the lock.
seealso:
  - module: pve.cloud.qemu_info
  - module: pve.cloud.placement
  - plugin: pve.cloud.proxmox
    plugin_type: inventory
'''

EXAMPLES = r'''
- name: VM from a cloud-init template, configured and started in one task
  pve.cloud.qemu:
    name: web1
    node: pve1
    clone: debian-13-cloud
    full: true
    storage: local-lvm
    cores: 2
    memory: 4096
    tags: [web, prod]
    networks:
      net0: {bridge: vmbr0, tag: 20, firewall: true}
    disks:
      scsi0: {size: 32G}
    ciuser: debian
    sshkeys:
      - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOZ admin@example.org
    ipconfig:
      ipconfig0: ip=10.0.20.11/24,gw=10.0.20.1
    nameserver: [10.0.20.1]
    state: started
    wait_for_ip: true

- name: VM from a cloud image (no SSH, no qm importdisk)
  pve.cloud.qemu:
    name: app1
    node: pve1
    memory: 2048
    scsihw: virtio-scsi-single
    agent: true
    disks:
      scsi0:
        storage: local-lvm
        import_from: local:import/debian-13-genericcloud-amd64.qcow2
        size: 20G
        discard: true
        iothread: true
    cloudinit_drive: local-lvm
    boot: order=scsi0
    networks:
      net0: virtio,bridge=vmbr0
    ipconfig:
      0: ip=dhcp

- name: Resize a disk (grow only; a smaller size fails before anything is written)
  pve.cloud.qemu:
    name: web1
    disks:
      scsi0: {size: 64G}

- name: Change memory on a running VM and reboot if PVE keeps it pending
  pve.cloud.qemu:
    name: web1
    memory: 8192
    reboot_if_needed: true
  register: vm

- name: Show what PVE keeps pending
  ansible.builtin.debug:
    var: vm.pending

- name: Shut down, stopping hard after 60 seconds
  pve.cloud.qemu:
    name: web1
    state: stopped
    force: true
    timeouts:
      shutdown: 60

- name: Remove a VM, also from backup jobs and HA
  pve.cloud.qemu:
    name: web1
    state: absent
    force: true
    purge: true
'''

RETURN = r'''
api_calls:
  description:
    - Every API call the module made, as C(METHOD path -> status (seconds)); never parameters or secrets.
    - Use it to see what the module did and how many round trips it took.
  returned: when run with C(-vvv)
  type: list
  elements: str
  sample: ['GET /cluster/resources -> 200 (0.004s)', 'GET /nodes/pve1/qemu/101/config -> 200 (0.003s)']
vmid:
  description: ID of the VM (in check mode, null for a VM that would be created without O(vmid)).
  returned: success
  type: int
  sample: 101
node:
  description: Node the VM is on.
  returned: success
  type: str
  sample: pve1
status:
  description: Power state after the task (C(running), C(stopped)), or C(absent).
  returned: success
  type: str
  sample: running
template:
  description: Whether the VM is a template.
  returned: success and state is not absent
  type: bool
config:
  description: The VM's config after the task, as PVE returns it (pending values applied, secrets masked).
  returned: success and state is not absent
  type: dict
  sample: {cores: 2, memory: '4096', net0: 'virtio=BC:24:11:2E:40:01,bridge=vmbr0,tag=20', name: web1}
diff:
  description: The managed config keys before and after (also shown with C(--diff)).
  returned: success
  type: dict
  contains:
    before:
      description: Values before the task (absent keys left out).
      type: dict
    after:
      description: Values after the task.
      type: dict
  sample: {before: {memory: '2048'}, after: {memory: '4096'}}
pending:
  description:
    - Changes PVE keeps pending until the running VM restarts, keyed by config key, each with C(current), C(pending)
      and C(delete). Empty when the VM is stopped.
  returned: success
  type: dict
  sample: {memory: {current: '2048', pending: '4096'}}
reboot_required:
  description: Whether pending changes need a restart (see O(reboot_if_needed)).
  returned: success
  type: bool
ip_addresses:
  description: Global addresses reported by the guest agent (with O(wait_for_ip)).
  returned: success
  type: list
  elements: str
  sample: [10.0.20.11, 'fd00::11']
tasks:
  description: UPIDs of the PVE tasks the module ran, in order.
  returned: always
  type: list
  elements: str
  sample: ['UPID:pve1:0001A2B3:00C0FFEE:6760A1B0:qmclone:9000:root@pam!ansible:']
actions:
  description:
    - What was done (or, in check mode, would be done), in order. Each item has C(action) (C(create), C(clone),
      C(update_config), C(resize), C(regenerate_cloudinit), C(set_pool), C(start), C(shutdown), C(stop),
      C(reboot), C(template), C(destroy)) and details such as C(keys), C(disk) and C(size).
  returned: always
  type: list
  elements: dict
  sample: [{action: clone, source: 9000}, {action: update_config, keys: [cores, ipconfig0]}, {action: start}]
failure:
  description: On failure, the structured error (kind, HTTP status, call, PVE's message and field errors, task UPID and
    the end of its log).
  returned: failure
  type: dict
  sample: {kind: task, status: null, method: GET, path: /nodes/pve1/tasks/UPID.../status,
           pve_message: "VM quit/powerdown failed - got timeout", upid: UPID..., task_log: [...]}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pve.cloud.plugins.module_utils import propstring as ps
from ansible_collections.pve.cloud.plugins.module_utils import qemu as qm
from ansible_collections.pve.cloud.plugins.module_utils.base import InputError
from ansible_collections.pve.cloud.plugins.module_utils.guest import (
    PVEGuestModule, changed_keys, guest_argument_spec, redact)
from ansible_collections.pve.cloud.plugins.module_utils.api import PVEError

# Options that are QEMU config keys of the same name.
CONFIG_OPTIONS = ('cores', 'sockets', 'vcpus', 'memory', 'balloon', 'cpu', 'machine', 'bios', 'ostype', 'scsihw',
                  'agent', 'onboot', 'boot', 'tags', 'description', 'protection', 'ciuser', 'cipassword', 'sshkeys',
                  'nameserver', 'searchdomain', 'cicustom', 'citype', 'ciupgrade')


class QemuVM(PVEGuestModule):
    kind = 'qemu'
    label = 'VM'

    def desired(self):
        """The managed keys as {key: normalised value or None} plus the drives, all checked before any call."""
        p = self.params
        self.want, self.disks, self.origin = {}, {}, {}
        if p['name'] is not None:
            self._want('name', p['name'], 'name')
        for option in CONFIG_OPTIONS:
            if p[option] is not None:
                self._want(option, p[option], option)
        for key, value in (p['networks'] or {}).items():
            if not key.startswith('net') or qm.schema_entry(key) is None:
                raise InputError('networks', "'%s' is not a network device: use net0 ... net31" % key)
            if isinstance(value, dict) and 'model' not in value:
                value = dict(value, model='virtio')
            self._want(key, value, 'networks', allow_none=True)
        for key, value in (p['ipconfig'] or {}).items():
            key = 'ipconfig%s' % key if str(key).isdigit() else str(key)
            if not key.startswith('ipconfig') or qm.schema_entry(key) is None:
                raise InputError('ipconfig', "'%s' is not a cloud-init interface: use ipconfig0 ... ipconfig31" % key)
            self._want(key, value, 'ipconfig', allow_none=True)
        for key, value in (p['disks'] or {}).items():
            if not qm.DRIVE_RE.match(key) or qm.schema_entry(key) is None:
                raise InputError('disks', "'%s' is not a drive slot: use scsi0-30, virtio0-15, sata0-5 or ide0-3" % key)
            self._disk(key, value, 'disks')
        for key in qm.SPECIAL_DISKS:
            if p[key] is not None:
                self._disk(key, p[key], key)
        for key, value in (p['config'] or {}).items():
            qm.check_key(key, 'config')
            if qm.DRIVE_RE.match(key) or key in qm.SPECIAL_DISKS:
                self._disk(key, value, 'config')
            else:
                self._want(key, value, 'config', allow_none=True)
        self.cloudinit = None
        if p['cloudinit_drive']:
            self.cloudinit = p['cloudinit_drive'].split(':', 1)[0]

    def _taken(self, key, param):
        if key in self.origin:
            raise InputError(param, "'%s' is also set by %s: set it in one place" % (key, self.origin[key]))
        self.origin[key] = param

    def _want(self, key, value, param, allow_none=False):
        self._taken(key, param)
        if value is None and not allow_none:
            return
        self.want[key] = qm.normalize(key, value, param)

    def _disk(self, slot, value, param):
        self._taken(slot, param)
        self.disks[slot] = None if value is None else qm.parse_disk(slot, value, param)

    # -- planning ------------------------------------------------------------------------------

    def plan_config(self, config):
        """Changed keys as {key: value to send or None} and disks to grow {slot: bytes}."""
        grows = {}
        changes = dict((key, qm.wire(key, want, config.get(key)))
                       for key, want in changed_keys(config, self.want, qm.same).items())
        for slot, disk in self.disks.items():
            have = config.get(slot)
            if disk is None:
                if have is not None:
                    changes[slot] = None
                continue
            value, grow = qm.plan_disk(disk, have, self.origin[slot])
            if value is not None:
                changes[slot] = value
            if grow and have is not None:
                grows[slot] = grow
        has_drive = any(qm.DRIVE_RE.match(k) and qm.is_cloudinit(v) for k, v in config.items()) \
            or any(d is not None and d.cloudinit for d in self.disks.values())
        if self.cloudinit and not has_drive:
            if config.get('ide2') is not None or 'ide2' in changes:
                raise InputError('cloudinit_drive', 'ide2 is taken (%s): put the cloud-init drive in disks on a free '
                                                    'slot, for example disks.ide0: %s:cloudinit'
                                 % (config.get('ide2') or changes['ide2'], self.cloudinit))
            changes['ide2'] = '%s:cloudinit' % self.cloudinit
        return changes, grows

    def create_params(self):
        """Everything PVE needs to create the VM in one call; disks as STORAGE:SIZE or imports."""
        params = {}
        for key, want in self.want.items():
            if want is not None:
                params[key] = qm.wire(key, want)
        for slot, disk in self.disks.items():
            if disk is not None:
                params[slot] = disk.create_value(self.origin[slot])
        if self.cloudinit and not any(d is not None and d.cloudinit for d in self.disks.values()):
            if 'ide2' in params:
                raise InputError('cloudinit_drive', 'ide2 is taken by disks.ide2: put the cloud-init drive on another '
                                                    'slot with disks')
            params['ide2'] = '%s:cloudinit' % self.cloudinit
        if self.params['pool']:
            params['pool'] = self.params['pool']
        return params

    # -- the steps -----------------------------------------------------------------------------

    def execute(self):
        p = self.params
        self.desired()
        guest = self.find(vmid=p['vmid'], name=p['name'])
        if p['state'] == 'absent':
            self.absent(guest)
            if guest is None:
                self.result.update(vmid=p['vmid'], status='absent', diff=dict(before={}, after={}))
            return
        created = guest is None
        if created and p['vmid'] is not None and p['name']:
            namesakes = [str(e['vmid']) for e in self.resources() if e.get('name') == p['name']]
            if namesakes:
                self.module.warn("VM %s does not exist, so it is created, but VMID %s is also named '%s'"
                                 % (p['vmid'], ', '.join(namesakes), p['name']))
        if created:
            guest, config = self.create_or_clone()
            if guest is None:  # check mode: nothing to read back
                return
        else:
            self.result.update(vmid=guest.vmid, node=guest.node)
            config = self.read_config(guest)
            if guest.template and p['state'] in ('started', 'restarted'):
                raise InputError('state', '%s is a template and is never started: clone it instead' %
                                 self.describe(guest))
        self.result.update(vmid=guest.vmid, node=guest.node)
        before = config
        changes, grows = self.plan_config(config)
        if guest.template and (changes or grows) and p['state'] != 'template':
            raise InputError('state', '%s is a template; the task would change %s. Templates are changed only with '
                                      'state: template' % (self.describe(guest), ', '.join(sorted(changes) or grows)))
        if p['pool'] and not created and guest.pool != p['pool']:
            self.check_pool(p['pool'])
        if p['state'] in ('stopped', 'template') and guest.running:
            # changed while stopped, the config applies at once instead of waiting as pending
            self.stop(guest)
        config = self.converge(guest, config, changes, grows, created)
        self.set_pool(guest, created)
        self.set_power(guest)
        self.finish(guest, {} if created else before, config, changes, grows)

    def create_or_clone(self):
        p = self.params
        if p['clone']:
            source = self.find_source()
            node = p['target'] or p['node'] or source.node
            if node != source.node:
                self.check_node(node, 'target' if p['target'] else 'node')
                self.check_clone_storage(source, node)
            if p['pool']:
                self.check_pool(p['pool'])
            self.plan('clone', source=source.vmid, full=p['full'])
            if self.module.check_mode:
                return self.planned_clone(source, node)
            params = dict(name=p['name'], target=node if node != source.node else None, full=p['full'],
                          storage=p['storage'], format=p['format'], pool=p['pool'], snapname=p['snapname'])
            path = '/nodes/%s/qemu/%s/clone' % (source.node, source.vmid)
            guest = self.create_guest(node, p['name'], lambda vmid: self.client.post(path, newid=vmid, **params),
                                      'clone', self.timeouts['clone'], vmid=p['vmid'])
        else:
            if not p['node']:
                raise InputError('node', '%s does not exist: set node (where to create it) or clone'
                                 % (p['name'] or p['vmid']))
            params = self.create_params()
            self.check_node(p['node'])
            if p['pool']:
                self.check_pool(p['pool'])
            self.plan('create')
            if self.module.check_mode:
                return self.planned_only(p['node'], params)
            path = '/nodes/%s/qemu' % p['node']
            guest = self.create_guest(p['node'], p['name'], lambda vmid: self.client.post(path, vmid=vmid, **params),
                                      'create', self.timeouts['create'], vmid=p['vmid'])
        return guest, self.read_config(guest)

    def find_source(self):
        source = self.params['clone']
        try:
            found = self.find(vmid=int(source), param='clone')
        except ValueError:
            found = self.find(name=source, param='clone')
        if found is None:
            # /cluster/resources lists only the guests the caller has VM.Audit on
            raise InputError('clone', "clone source '%s' does not exist in the cluster or is not visible: check the name "
                                      "or VMID of the template, or grant VM.Audit on it (its /vms/VMID or its pool)"
                             % source)
        return found

    def check_clone_storage(self, source, node):
        """A clone to another node: PVE's rules (qemu-server clone_vm), checked before anything is written.

        PVE clones across nodes only when every volume of the source is on shared storage, and only
        onto a target `storage` that is shared and enabled on both nodes; the disks of a clone
        without `storage` land on the source's storages, so those must be usable on the target too.
        """
        p = self.params
        param = 'target' if p['target'] else 'node'
        shared = sorted(s for s, e in self.node_storages(node).items()
                        if str(e.get('shared')) == '1' and 'images' in str(e.get('content') or '').split(','))
        if p['storage']:
            self.check_storage(source.node, p['storage'], 'images')
            entry = self.check_storage(node, p['storage'], 'images')
            if str(entry.get('shared')) != '1':
                raise InputError('storage', "storage '%s' is local to each node, and PVE clones to another node ('%s') "
                                            "only onto shared storage: create the clone on the source's node (%s: %s), use "
                                            "shared storage, or pick a storage available on node '%s' that is shared "
                                            "(%s)" % (p['storage'], node, param, source.node, node,
                                                      ', '.join(shared) or 'there is none'))
        if p['snapname']:
            config = self.client.get(self.path(source, '/snapshot/%s/config' % p['snapname'])) or {}
        else:
            config = self.read_config(source)
        source_storages = self.node_storages(source.node)
        local = []
        for slot, value in sorted(config.items()):
            volume = qm.drive_volume(slot, value)
            storage = qm.volume_storage(volume)
            if storage is None or storage not in source_storages:
                continue  # 'none', a host path, or a storage this user cannot see: PVE decides
            if str(source_storages[storage].get('shared')) != '1':
                local.append('%s on %s' % (slot, storage))
            elif not p['storage'] or 'media=cdrom' in value:
                self.check_storage(node, storage, 'iso' if 'media=cdrom' in value else 'images', param)
        if local:
            raise InputError(param, "%s cannot be cloned to node '%s': PVE clones across nodes only when every volume "
                                    "of the source is on shared storage (a target storage does not change that), and "
                                    "%s %s local to node '%s'. Create the clone on the source's node (%s: %s) and "
                                    "migrate it, or keep the source's disks on shared storage (shared there: %s)"
                             % (self.describe(source), node, ', '.join(local), 'is' if len(local) == 1 else 'are',
                                source.node, param, source.node, ', '.join(shared) or 'none'))

    def planned_clone(self, source, node):
        """Check mode for a clone: plan the configuration against the source's config."""
        config = self.read_config(source)
        config['name'] = self.params['name']
        changes, grows = self.plan_config(config)
        if changes:
            self.plan('update_config', keys=sorted(changes))
        for slot in sorted(grows):
            self.plan('resize', disk=slot, size=ps.format_size(grows[slot]))
        after = dict((k, v) for k, v in config.items() if k in set(self.want) | set(self.disks) and v is not None)
        after.update((k, v) for k, v in changes.items() if v is not None)
        return self.planned_only(node, after)

    def planned_only(self, node, after):
        """Check mode for a VM that does not exist: the plan, the config it would get, nothing written."""
        after = dict(after)
        after.pop('pool', None)
        if self.params['state'] in ('started', 'restarted'):
            self.plan('start')
        elif self.params['state'] == 'template':
            self.plan('template')
        self.result.update(vmid=self.params['vmid'], node=node, status='absent', diff=dict(before={}, after=redact(after)),
                           config={}, pending={}, reboot_required=False, ip_addresses=[])
        return None, None

    def converge(self, guest, config, changes, grows, created):
        """Write the changed keys in one call (re-planned when the digest moved), then grow disks.

        Returns the config read last, or None when a write made it stale.
        """
        before = config
        attempts = 0
        while changes:
            attempts += 1
            if not self.plan('update_config', keys=sorted(changes)):
                break
            try:
                self.write_config(guest, changes, config.get('digest'))
                config = None
                break
            except PVEError as err:
                if err.reason != 'digest' or attempts >= 3:
                    raise
                # someone else changed the config between our read and write: read it and plan again
                self.result['actions'].pop()
                config = self.read_config(guest)
                changes, grows = self.plan_config(config)
        imports = [s for s, d in self.disks.items() if d is not None and d.import_from and d.size]
        if config is None and imports and not self.module.check_mode:
            # an imported disk's size is known only now
            config = self.read_config(guest)
            grows.update((slot, grow) for slot, (value, grow) in (
                (s, qm.plan_disk(self.disks[s], config.get(s), self.origin[s])) for s in imports) if grow)
        for slot in sorted(grows):
            size = ps.format_size(grows[slot])
            if self.plan('resize', disk=slot, size=size):
                self.task('PUT', self.path(guest, '/resize'), dict(disk=slot, size=size),
                          timeout=self.timeouts['resize'], what='resize of %s of %s' % (slot, self.describe(guest)),
                          holder=self.where(guest))
        cloudinit = sorted(k for k in changes if qm.CLOUDINIT_KEYS.match(k))
        has_drive = self.cloudinit or any(qm.DRIVE_RE.match(k) and qm.is_cloudinit(v) for k, v in before.items())
        if not created and cloudinit and has_drive:
            if self.plan('regenerate_cloudinit', keys=cloudinit):
                self.task('PUT', self.path(guest, '/cloudinit'), None, timeout=self.timeouts['config'],
                          what='cloud-init drive of %s' % self.describe(guest), holder=self.where(guest))
        return config

    def set_pool(self, guest, created):
        pool = self.params['pool']
        if not pool or created or guest.pool == pool:
            return
        if not self.plan('set_pool', pool=pool, previous=guest.pool):
            return
        what = 'move of %s to pool %s' % (self.describe(guest), pool)
        try:
            self.task('PUT', '/pools', {'poolid': pool, 'vms': guest.vmid, 'allow-move': 1},
                      timeout=self.timeouts['config'], what=what, holder=self.where(guest))
        except PVEError as err:
            if err.status != 501:
                raise
            # PVE before 8.1 has only /pools/{poolid}, and no allow-move: leave the old pool first
            if guest.pool:
                self.task('PUT', '/pools/%s' % guest.pool, {'vms': guest.vmid, 'delete': 1},
                          timeout=self.timeouts['config'], what=what, holder=self.where(guest))
            self.task('PUT', '/pools/%s' % pool, {'vms': guest.vmid}, timeout=self.timeouts['config'], what=what,
                      holder=self.where(guest))

    def set_power(self, guest):
        state = self.params['state']
        if state == 'started' and not guest.running:
            self.start(guest)
        elif state == 'stopped' and guest.running:
            self.stop(guest)
        elif state == 'restarted':
            if guest.running:
                self.reboot(guest)
            else:
                self.start(guest)
        elif state == 'template' and not guest.template:
            if self.plan('template'):
                self.task('POST', self.path(guest, '/template'), None, timeout=self.timeouts['template'],
                          what='conversion of %s to a template' % self.describe(guest), holder=self.where(guest))
            guest.template = True

    def finish(self, guest, before, config, changes, grows):
        p = self.params
        pending = {}
        if guest.running and not guest.template:
            pending = self.read_pending(guest) if not (self.module.check_mode and self.result['changed']) else {}
            if pending and p['reboot_if_needed'] and 'reboot' not in [a['action'] for a in self.result['actions']]:
                self.reboot(guest)
                pending = {} if not self.module.check_mode else pending
        if config is None or (self.result['changed'] and not self.module.check_mode):
            config = self.read_config(guest)
        ip_addresses = []
        if p['wait_for_ip'] and not guest.running:
            self.module.warn('wait_for_ip: %s is not running, so it has no address to wait for' % self.describe(guest))
        elif p['wait_for_ip'] and not self.module.check_mode:
            ip_addresses = self.wait_for_addresses(guest, lambda: (self.client.get(
                self.path(guest, '/agent/network-get-interfaces')) or {}).get('result'))
        managed = set(self.want) | set(self.disks) | set(changes)
        if self.cloudinit:
            managed |= set(k for k, v in config.items() if qm.DRIVE_RE.match(k) and qm.is_cloudinit(v))
        diff_before = dict((k, before[k]) for k in managed if before.get(k) is not None)
        if self.module.check_mode:
            diff_after = dict(diff_before)
            diff_after.update(changes)
            for slot, size in grows.items():
                values = ps.parse(diff_after[slot], dict(default_key='file'))
                values['size'] = ps.format_size(size)
                diff_after[slot] = ps.format_string(values, dict(default_key='file'))
            diff_after = dict((k, v) for k, v in diff_after.items() if v is not None)
        else:
            diff_after = dict((k, config[k]) for k in managed if config.get(k) is not None)
        self.result.update(
            status=guest.status if guest.status in ('running', 'stopped') else 'stopped', template=guest.template,
            config=redact(config), diff=dict(before=redact(diff_before), after=redact(diff_after)), pending=pending,
            reboot_required=bool(pending), ip_addresses=ip_addresses)


def main():
    spec = guest_argument_spec()
    spec.update(
        state=dict(type='str', default='present',
                   choices=['present', 'started', 'stopped', 'restarted', 'absent', 'template']),
        timeouts=dict(type='dict', default={}, options=dict(
            (k, dict(type='int', default=v)) for k, v in QemuVM.default_timeouts.items())),
        clone=dict(type='str'),
        full=dict(type='bool'),
        storage=dict(type='str'),
        format=dict(type='str', choices=['raw', 'qcow2', 'vmdk']),
        snapname=dict(type='str'),
        target=dict(type='str'),
        cores=dict(type='int'),
        sockets=dict(type='int'),
        vcpus=dict(type='int'),
        memory=dict(type='int'),
        balloon=dict(type='int'),
        cpu=dict(type='str'),
        machine=dict(type='str'),
        bios=dict(type='str', choices=['seabios', 'ovmf']),
        ostype=dict(type='str'),
        scsihw=dict(type='str'),
        agent=dict(type='raw'),
        onboot=dict(type='bool'),
        boot=dict(type='str'),
        tags=dict(type='list', elements='str'),
        description=dict(type='str'),
        pool=dict(type='str'),
        protection=dict(type='bool'),
        efidisk0=dict(type='raw'),
        tpmstate0=dict(type='raw'),
        networks=dict(type='dict'),
        disks=dict(type='dict'),
        cloudinit_drive=dict(type='str'),
        ciuser=dict(type='str'),
        cipassword=dict(type='str', no_log=True),
        sshkeys=dict(type='list', elements='str', no_log=False),
        ipconfig=dict(type='dict'),
        nameserver=dict(type='list', elements='str'),
        searchdomain=dict(type='list', elements='str'),
        cicustom=dict(type='str'),
        citype=dict(type='str', choices=['configdrive2', 'nocloud', 'opennebula']),
        ciupgrade=dict(type='bool'),
        config=dict(type='dict'),
        reboot_if_needed=dict(type='bool', default=False),
        wait_for_ip=dict(type='bool', default=False),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True, required_one_of=[('name', 'vmid')],
                           required_by=dict(full=('clone',), snapname=('clone',), format=('clone',),
                                            storage=('clone',)))
    QemuVM(module).run()


if __name__ == '__main__':
    main()
