#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: lxc
short_description: Create, clone, configure, power and destroy LXC containers on Proxmox VE
version_added: 0.2.0
description:
  - Makes a Linux container (pve-container) of a Proxmox VE cluster match the task, idempotently.
  - The container is found cluster-wide by O(hostname) and/or O(vmid) with one call to C(/cluster/resources); O(node)
    is where a new container is created. Given O(vmid) and O(node), the container is read on that node first, with
    no cluster-wide call (see the notes).
  - A missing container is created from a container template (O(ostemplate)) or cloned (O(clone)), then
    configured in the same task; an existing one is never created again, even after a lost answer.
  - Only the keys the task mentions are managed, compared the way pve-container means them (property-string
    order, defaults, the generated MAC address C(hwaddr), tag order, 0/1 booleans); only changed keys are
    written, in one config call guarded by the config C(digest). A second identical run sends no write.
  - O(rootfs) and mount points are grown with the resize call, never shrunk, moved or recreated.
attributes:
  check_mode:
    description: Nothing is written; RV(actions) and RV(diff) tell what a real run would do.
    support: full
  diff_mode:
    description: RV(diff) holds the managed keys as they were and as they are planned.
    support: full
extends_documentation_fragment:
  - pve.cloud.guest
  - pve.cloud.api
  - pve.cloud.api.actiongroups
author:
  - pve.cloud developers (@pve-cloud)
options:
  hostname:
    description:
      - Host name of the container (PVE shows it as the name). Identifies the container when O(vmid) is not given;
        two containers with this host name are an error that lists both VMIDs.
      - With O(vmid), the container gets this host name if it has another.
    type: str
  vmid:
    description:
      - ID of the container. A new container without O(vmid) gets a free ID, safely even from parallel runs.
    type: int
  node:
    description:
      - Node a new container is created on (required to create one from O(ostemplate)); checked first.
      - An existing container is found wherever it is; it is moved to O(node) only with O(migrate=true).
      - With O(vmid), the node where the container is looked for first; it is looked up cluster-wide when it is not
        there.
    type: str
  ostemplate:
    description:
      - Container template a new container is created from. A volume id (V(local:vztmpl/debian-13-standard_13.1-1_amd64.tar.zst))
        is used as is; an appliance name (V(debian-13-standard), or the template's file name) is looked up on the
        storages of O(node) that hold container templates, the newest version first.
      - A template that is not there fails before anything is written; download it first with
        M(pve.cloud.template) (or C(pveam download)).
      - Only used to create the container.
    type: str
  clone:
    description:
      - Name or VMID of a container or container template to clone when the container does not exist yet; the
        clone is then configured with the other options in the same task.
      - PVE makes linked clones only of templates.
    type: str
  storage:
    description:
      - With O(clone), the target storage of a full clone. To another node it must be shared.
      - Without O(clone), the storage of a new O(rootfs) given only by its size (PVE's default is V(local)).
    type: str
  password:
    description:
      - Password of the container's root user. Creation only - set when the container is created from
        O(ostemplate), never compared or changed afterwards (PVE keeps no readable copy).
    type: str
  ssh_public_keys:
    description:
      - SSH public keys for the root user, one per item. Creation only, like O(password).
    type: list
    elements: str
  unprivileged:
    description:
      - Run the container unprivileged (user namespaces). Fixed when the container is created; a different value
        for an existing container fails before anything is written.
    type: bool
  cores:
    description: Number of CPU cores the container may use.
    type: int
  cpulimit:
    description: CPU time limit in cores (V(0) is unlimited).
    type: float
  cpuunits:
    description: CPU weight against other guests.
    type: int
  memory:
    description: Memory in MiB.
    type: int
  swap:
    description: Swap in MiB.
    type: int
  features:
    description:
      - Container features, as a dict (C(nesting), C(keyctl), C(fuse), C(mknod), C(force_rw_sys) as booleans,
        C(mount) as a list of file system types such as V([nfs, cifs])) or PVE's string (V(nesting=1,keyctl=1)).
      - The value is complete - a feature left out is turned off (a dropped C(keyctl) is written).
      - Most features need a privileged container or C(root@pam); PVE says which.
    type: raw
  startup:
    description: Start and stop order, PVE's form (V(order=2,up=30)).
    type: str
  nameserver:
    description: DNS servers of the container.
    type: list
    elements: str
  searchdomain:
    description: DNS search domains of the container.
    type: list
    elements: str
  timezone:
    description: Time zone (V(host) copies the node's, or a zone such as V(Europe/Vienna)).
    type: str
  arch:
    description: Architecture (PVE reads it from the template when created).
    type: str
    choices: [amd64, i386, arm64, armhf, riscv32, riscv64]
  ostype:
    description: OS type for the container's setup scripts (PVE reads it from the template when created).
    type: str
  hookscript:
    description: Hook script volume, for example V(local:snippets/hook.sh).
    type: str
  rootfs:
    description:
      - Root file system, a dict (C(storage), C(size) as V(8G), V(8192M) or a number of GiB, and options such as
        C(acl), C(quota), C(mountoptions)) or PVE's string (V(local-lvm:8)).
      - An existing root file system is grown when C(size) is larger, refused (before any write) when it is
        smaller or on another storage; options you leave out are kept.
    type: raw
  mounts:
    description:
      - Mount points keyed by C(mp0) ... C(mp255). Each value is a dict - C(storage) and C(size) for a new volume, or
        C(volume) with a host directory for a bind mount; C(mp) (the path in the container) and options such as
        C(backup), C(ro), C(acl), C(quota) - or PVE's string (V(local-lvm:4,mp=/srv/data), V(/mnt/share,mp=/share)).
      - Grown like O(rootfs), never shrunk, moved or recreated. V(null) detaches it (PVE keeps the volume as
        C(unusedN)).
    type: dict
  networks:
    description:
      - Network interfaces keyed by C(net0) ... C(net31). Each value is PVE's string
        (V(name=eth0,bridge=vmbr0,ip=dhcp)) or a dict with its keys - C(name) (default C(ethN)), C(bridge),
        C(ip) (V(dhcp), V(manual) or an address with prefix), C(gw), C(ip6), C(gw6), C(tag), C(firewall), C(mtu),
        C(rate), C(link_down), C(trunks), C(hwaddr).
      - The value is complete (a dropped C(firewall=1) is written) except the MAC address PVE generated, which is
        kept. V(null) removes the interface.
    type: dict
  config:
    description:
      - Any other key of PVE's container config (for example C(cmode), C(console), C(tty), C(dev0), C(env)), with
        PVE's value; V(null) deletes it. Unknown keys, and keys that have their own option, are refused before
        anything is written.
    type: dict
  wait_for_ip:
    description:
      - Wait (up to O(timeouts.ip)) until the running container reports a global address on its interfaces; return
        them in RV(ip_addresses).
    type: bool
    default: false
notes:
  - O(password) and O(ssh_public_keys) are used only when the container is created from a template.
  - After a lost answer to the create or clone call the container is looked up by VMID and host name first; a
    second container is never made.
seealso:
  - module: pve.cloud.lxc_info
  - module: pve.cloud.qemu
'''

EXAMPLES = r'''
- name: Container from a downloaded template, started, with its address
  pve.cloud.lxc:
    hostname: cache1
    node: pve1
    ostemplate: debian-13-standard
    unprivileged: true
    password: "{{ vault_ct_root_password }}"
    ssh_public_keys:
      - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOZ admin@example.org
    cores: 2
    memory: 1024
    swap: 512
    rootfs: {storage: local-lvm, size: 8G}
    mounts:
      mp0: {storage: local-lvm, size: 16G, mp: /var/cache/app, backup: true}
    networks:
      net0: {bridge: vmbr0, ip: dhcp, firewall: true}
    features: {nesting: true}
    tags: [cache, prod]
    state: started
    wait_for_ip: true

- name: Many containers from one template, with static addresses
  pve.cloud.lxc:
    hostname: "web{{ item }}"
    clone: ct-debian-13
    full: true
    storage: local-lvm
    networks:
      net0: {bridge: vmbr0, ip: "10.0.20.{{ 10 + item }}/24", gw: 10.0.20.1, tag: 20}
    state: started
  loop: [1, 2, 3]

- name: Grow the root file system (never shrinks) and add a bind mount
  pve.cloud.lxc:
    hostname: cache1
    rootfs: {size: 16G}
    mounts:
      mp1: {volume: /srv/shared, mp: /shared, ro: true}

- name: Raise the memory of a running container; apply what PVE keeps pending
  pve.cloud.lxc:
    hostname: cache1
    memory: 2048
    reboot_if_needed: true

- name: Stop it, hard after 30 seconds
  pve.cloud.lxc:
    hostname: cache1
    state: stopped
    force: true
    timeouts:
      shutdown: 30

- name: Turn a configured container into a template for clones
  pve.cloud.lxc:
    hostname: ct-debian-13
    state: template

- name: Delete a container, running or not
  pve.cloud.lxc:
    hostname: cache1
    state: absent
    force: true
    purge: true
'''

RETURN = r'''
vmid:
  description: The container's ID; null in check mode for a container that would get a new ID.
  returned: success
  type: int
  sample: 120
node:
  description: The node it is on (or would be created on).
  returned: success
  type: str
  sample: pve2
status:
  description: C(running) or C(stopped) after the task, C(absent) when there is no container.
  returned: success
  type: str
  sample: stopped
template:
  description: True for a container template.
  returned: success and state is not absent
  type: bool
config:
  description: The config PVE returns after the task (passwords never appear in it).
  returned: success and state is not absent
  type: dict
  sample: {hostname: cache1, memory: 1024, rootfs: 'local-lvm:vm-120-disk-0,size=8G',
           net0: 'name=eth0,bridge=vmbr0,hwaddr=BC:24:11:5A:00:01,ip=dhcp,type=veth'}
diff:
  description: Managed keys, C(before) the task and C(after) it (as planned in check mode).
  returned: success
  type: dict
  sample: {before: {memory: 512}, after: {memory: 1024}}
pending:
  description:
    - Keys PVE will apply at the next restart of the running container, each with C(current), C(pending) and
      C(delete).
  returned: success
  type: dict
  sample: {memory: {current: 512, pending: 1024}}
reboot_required:
  description: True when RV(pending) is not empty (see O(reboot_if_needed)).
  returned: success
  type: bool
ip_addresses:
  description: The container's global addresses, with O(wait_for_ip).
  returned: success
  type: list
  elements: str
  sample: [10.0.20.11]
actions:
  description:
    - The steps taken, or planned in check mode - C(create), C(clone), C(update_config), C(resize), C(set_pool),
      C(start), C(shutdown), C(stop), C(reboot), C(template) or C(destroy), with details (C(keys), C(disk), C(size)).
  returned: always
  type: list
  elements: dict
  sample: [{action: create}, {action: start}]
tasks:
  description: The UPIDs of the tasks that ran.
  returned: always
  type: list
  elements: str
  sample: ['UPID:pve1:0002C3D4:00ABCDEF:6760A1B0:vzcreate:120:root@pam!ansible:']
failure:
  description: On failure, PVE's error in parts - kind, reason, HTTP status, call, message, field errors, task and log tail.
  returned: failure
  type: dict
  sample: {kind: http, reason: lock, status: 500, method: PUT, path: /nodes/pve1/lxc/120/config,
           pve_message: CT is locked (backup)}
api_calls:
  description: With C(-vvv), each API call as C(METHOD path -> status (seconds)), without parameters.
  returned: when run with C(-vvv)
  type: list
  elements: str
'''

from urllib.parse import quote

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pve.cloud.plugins.module_utils import lxc
from ansible_collections.pve.cloud.plugins.module_utils.api import PVEError
from ansible_collections.pve.cloud.plugins.module_utils.base import InputError, content_types
from ansible_collections.pve.cloud.plugins.module_utils.guest import PVEGuestModule, guest_argument_spec

# Options that are LXC config keys of the same name.
CONFIG_OPTIONS = ('hostname', 'cores', 'cpulimit', 'cpuunits', 'memory', 'swap', 'features', 'onboot', 'startup',
                  'tags', 'description', 'protection', 'nameserver', 'searchdomain', 'timezone', 'arch', 'ostype',
                  'hookscript')


class Container(PVEGuestModule):
    kind = 'lxc'
    label = 'CT'
    schema = lxc.SCHEMA
    name_key = 'hostname'
    config_method = 'PUT'
    clone_storage_overrides_source = True
    move_hint = 'move it with pct move-volume'
    no_address_hint = 'does it have a network interface with ip=dhcp or a static ip, and is that network up?'

    def desired(self):
        p = self.params
        for option in CONFIG_OPTIONS:
            if p[option] is not None:
                self.want_key(option, p[option], option)
        if p['rootfs'] is not None:
            self.want_volume('rootfs', p['rootfs'], 'rootfs')
        for key, value in (p['mounts'] or {}).items():
            if not lxc.VOLUME_RE.match(key) or key == 'rootfs' or lxc.SCHEMA.entry(key) is None:
                raise InputError('mounts', "'%s' is not a mount point: use mp0 ... mp255" % key)
            self.want_volume(key, value, 'mounts')
        for key, value in (p['networks'] or {}).items():
            match = lxc.NET_RE.match(key)
            if not match or lxc.SCHEMA.entry(key) is None:
                raise InputError('networks', "'%s' is not a network interface: use net0 ... net31" % key)
            if isinstance(value, dict) and 'name' not in value:
                value = dict(value, name='eth%s' % match.group(1))
            self.want_key(key, value, 'networks', allow_none=True)
        for key, value in (p['config'] or {}).items():
            lxc.SCHEMA.check_key(key, 'config')
            if lxc.VOLUME_RE.match(key):
                self.want_volume(key, value, 'config')
            else:
                self.want_key(key, value, 'config', allow_none=True)

    def plan_extra(self, config, changes):
        wanted = self.params['unprivileged']
        if wanted is None:
            return
        have = str(config.get('unprivileged', 0)) == '1'
        if have != wanted:
            raise InputError('unprivileged', 'the container is %s, and PVE fixes that when a container is created: '
                                             'keep unprivileged: %s, or create a new container (a backup restored '
                                             'with the other setting converts it)'
                             % ('unprivileged' if have else 'privileged', str(have).lower()))

    def create_params(self):
        p = self.params
        if not p['ostemplate']:
            raise InputError('ostemplate', '%s does not exist: set ostemplate (the container template to create it '
                                           'from) or clone' % (p['hostname'] or p['vmid']))
        params = self.config_params()
        params.update({'ostemplate': self.resolve_template(p['node'], p['ostemplate']), 'storage': p['storage'],
                       'unprivileged': p['unprivileged'], 'password': p['password'],
                       'ssh-public-keys': '\n'.join(p['ssh_public_keys']) if p['ssh_public_keys'] else None})
        return params

    create_only = frozenset(('pool', 'ostemplate', 'storage', 'password', 'ssh-public-keys'))

    def resolve_template(self, node, wanted):
        """The volume id of the template `wanted` on `node`; an InputError naming pve.cloud.template if absent."""
        if not node:
            return wanted  # create() fails on the missing node first
        hint = ("download it first with pve.cloud.template (or 'pveam download STORAGE %s'), or pass the volume id "
                "of one that is there" % wanted)
        if lxc.VZTMPL_RE.match(wanted):
            storage = wanted.split(':', 1)[0]
            try:
                self.client.get('/nodes/%s/storage/%s/content/%s' % (node, storage, quote(wanted, safe='')))
            except PVEError as err:
                if err.reason != 'not_found':
                    raise
                raise InputError('ostemplate', "container template '%s' is not on node '%s': %s" % (wanted, node, hint))
            return wanted
        found = []
        for storage, entry in sorted(self.node_storages(node).items()):
            if 'vztmpl' in content_types(entry) and str(entry.get('enabled', 1)) != '0':
                content = self.client.get('/nodes/%s/storage/%s/content' % (node, storage), content='vztmpl') or []
                found.extend(v['volid'] for v in content if lxc.matches_template(wanted, v.get('volid', '')))
        if not found:
            raise InputError('ostemplate', "no container template '%s' on the storages of node '%s': %s"
                             % (wanted, node, hint))
        # the newest version: template names sort by version within one appliance
        return sorted(found, key=lambda volid: (lxc.template_name(volid), volid))[-1]

    def read_interfaces(self, guest):
        return self.client.get(self.path(guest, '/interfaces'))


def main():
    spec = guest_argument_spec('hostname', Container.default_timeouts)
    spec.update(
        ostemplate=dict(type='str'),
        password=dict(type='str', no_log=True),
        ssh_public_keys=dict(type='list', elements='str', no_log=False),
        unprivileged=dict(type='bool'),
        cores=dict(type='int'),
        cpulimit=dict(type='float'),
        cpuunits=dict(type='int'),
        memory=dict(type='int'),
        swap=dict(type='int'),
        features=dict(type='raw'),
        startup=dict(type='str'),
        nameserver=dict(type='list', elements='str'),
        searchdomain=dict(type='list', elements='str'),
        timezone=dict(type='str'),
        arch=dict(type='str', choices=['amd64', 'i386', 'arm64', 'armhf', 'riscv32', 'riscv64']),
        ostype=dict(type='str'),
        hookscript=dict(type='str'),
        rootfs=dict(type='raw'),
        mounts=dict(type='dict'),
        networks=dict(type='dict'),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True, required_one_of=[('hostname', 'vmid')],
                           required_by=dict(full=('clone',), snapname=('clone',)),
                           mutually_exclusive=[('clone', 'ostemplate')])
    Container(module).run()


if __name__ == '__main__':
    main()
