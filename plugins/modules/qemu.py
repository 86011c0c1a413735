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
    was migrated is still found; O(node) is where a new VM is created (and, with O(migrate), where an existing
    one is moved). Given O(vmid) and O(node), the VM is read on that node first, with no cluster-wide call
    (see the notes).
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
  - pve.cloud.guest
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
      - An existing VM is found on whatever node it runs; it is moved to O(node) only with O(migrate=true).
      - With O(vmid), the node where the VM is looked for first (a hint, such as the node a plan saw it on); it is
        looked up cluster-wide when it is not there.
    type: str
  clone:
    description:
      - Name or VMID of a VM or template to clone when the VM does not exist yet. The clone is then configured
        with the other options in the same task.
      - The source must exist (checked before anything is written). An existing target VM is never cloned
        again.
    type: str
  storage:
    description: Target storage of a full clone's disks.
    type: str
  format:
    description: Disk format of a full clone on file storage.
    type: str
    choices: [raw, qcow2, vmdk]
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
  boot:
    description: Boot order in PVE's form, for example V(order=scsi0;ide2;net0).
    type: str
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

from ansible_collections.pve.cloud.plugins.module_utils import qemu as qm
from ansible_collections.pve.cloud.plugins.module_utils import volumes
from ansible_collections.pve.cloud.plugins.module_utils.base import InputError
from ansible_collections.pve.cloud.plugins.module_utils.guest import PVEGuestModule, guest_argument_spec

# Options that are QEMU config keys of the same name.
CONFIG_OPTIONS = ('cores', 'sockets', 'vcpus', 'memory', 'balloon', 'cpu', 'machine', 'bios', 'ostype', 'scsihw',
                  'agent', 'onboot', 'boot', 'tags', 'description', 'protection', 'ciuser', 'cipassword', 'sshkeys',
                  'nameserver', 'searchdomain', 'cicustom', 'citype', 'ciupgrade')


class QemuVM(PVEGuestModule):
    kind = 'qemu'
    label = 'VM'
    schema = qm.SCHEMA
    config_method = 'POST'
    move_hint = 'move it with qm disk move'
    no_address_hint = 'is the guest agent installed and running?'

    def desired(self):
        """The managed keys and drives, all checked before any call."""
        p = self.params
        if p['name'] is not None:
            self.want_key('name', p['name'], 'name')
        for option in CONFIG_OPTIONS:
            if p[option] is not None:
                self.want_key(option, p[option], option)
        for key, value in (p['networks'] or {}).items():
            if not key.startswith('net') or qm.schema_entry(key) is None:
                raise InputError('networks', "'%s' is not a network device: use net0 ... net31" % key)
            if isinstance(value, dict) and 'model' not in value:
                value = dict(value, model='virtio')
            self.want_key(key, value, 'networks', allow_none=True)
        for key, value in (p['ipconfig'] or {}).items():
            key = 'ipconfig%s' % key if str(key).isdigit() else str(key)
            if not key.startswith('ipconfig') or qm.schema_entry(key) is None:
                raise InputError('ipconfig', "'%s' is not a cloud-init interface: use ipconfig0 ... ipconfig31" % key)
            self.want_key(key, value, 'ipconfig', allow_none=True)
        for key, value in (p['disks'] or {}).items():
            if not qm.DRIVE_RE.match(key) or qm.schema_entry(key) is None:
                raise InputError('disks', "'%s' is not a drive slot: use scsi0-30, virtio0-15, sata0-5 or ide0-3" % key)
            self.disk(key, value, 'disks')
        for key in qm.SPECIAL_DISKS:
            if p[key] is not None:
                self.disk(key, p[key], key)
        for key, value in (p['config'] or {}).items():
            qm.check_key(key, 'config')
            if qm.DRIVE_RE.match(key) or key in qm.SPECIAL_DISKS:
                self.disk(key, value, 'config')
            else:
                self.want_key(key, value, 'config', allow_none=True)
        self.cloudinit = p['cloudinit_drive'].split(':', 1)[0] if p['cloudinit_drive'] else None

    def disk(self, slot, value, param):
        self.taken(slot, param)
        self.volumes[slot] = None if value is None else qm.parse_disk(slot, value, param)

    def has_cloudinit_drive(self, config):
        return any(qm.DRIVE_RE.match(k) and qm.is_cloudinit(v) for k, v in config.items()) \
            or any(d is not None and d.cloudinit for d in self.volumes.values())

    def plan_extra(self, config, changes):
        if self.cloudinit and not self.has_cloudinit_drive(config):
            if config.get('ide2') is not None or 'ide2' in changes:
                raise InputError('cloudinit_drive', 'ide2 is taken (%s): put the cloud-init drive in disks on a free '
                                                    'slot, for example disks.ide0: %s:cloudinit'
                                 % (config.get('ide2') or changes['ide2'], self.cloudinit))
            changes['ide2'] = '%s:cloudinit' % self.cloudinit

    def create_params(self):
        params = self.config_params()
        if self.cloudinit and not self.has_cloudinit_drive({}):
            if 'ide2' in params:
                raise InputError('cloudinit_drive', 'ide2 is taken by disks.ide2: put the cloud-init drive on another '
                                                    'slot with disks')
            params['ide2'] = '%s:cloudinit' % self.cloudinit
        return params

    def managed_extra(self, config):
        if not self.cloudinit:
            return set()
        return set(k for k, v in config.items() if qm.DRIVE_RE.match(k) and qm.is_cloudinit(v))

    def grows_after_write(self, guest, changes):
        imports = [s for s, d in self.volumes.items() if d is not None and d.import_from and d.size]
        if not imports or self.check_mode or not changes:
            return {}
        # an imported disk's size is known only now
        config = self.read_config(guest)
        grows = {}
        for slot in imports:
            _value, grow = volumes.plan_volume(self.volumes[slot], config.get(slot), self.origin[slot])
            if grow:
                grows[slot] = grow
        return grows

    def after_configure(self, guest, before):
        cloudinit = sorted(k for k in self.changes if qm.CLOUDINIT_KEYS.match(k))
        if not self.created and cloudinit and (self.cloudinit or self.has_cloudinit_drive(before)):
            if self.plan('regenerate_cloudinit', keys=cloudinit):
                self.task('PUT', self.path(guest, '/cloudinit'), None, timeout=self.timeouts['config'],
                          what='cloud-init drive of %s' % self.describe(guest), holder=self.where(guest))

    def read_interfaces(self, guest):
        return (self.client.get(self.path(guest, '/agent/network-get-interfaces')) or {}).get('result')


def main():
    spec = guest_argument_spec('name', QemuVM.default_timeouts)
    spec.update(
        format=dict(type='str', choices=['raw', 'qcow2', 'vmdk']),
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
        boot=dict(type='str'),
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
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True, required_one_of=[('name', 'vmid')],
                           required_by=dict(full=('clone',), snapname=('clone',), format=('clone',),
                                            storage=('clone',)))
    QemuVM(module).run()


if __name__ == '__main__':
    main()
