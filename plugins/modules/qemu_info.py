#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: qemu_info
short_description: List QEMU virtual machines of a Proxmox VE cluster
version_added: 0.1.0
description:
  - Lists the QEMU VMs of the whole cluster with one call to C(/cluster/resources), filtered by name, VMID,
    node, pool, tags, status and template.
  - Optionally adds each VM's config (one call per VM) and the addresses its guest agent reports (one call per
    running VM with the agent enabled).
author:
  - pve.cloud developers (@pve-cloud)
extends_documentation_fragment:
  - pve.cloud.api
  - pve.cloud.api.actiongroups
  - pve.cloud.guest.info
  - pve.cloud.attributes
options:
  status:
    description: Only the VMs with this power state.
    type: str
    choices: [running, stopped, paused]
  config:
    description: Add each VM's config (RV(vms[].config)), one call per VM listed.
    type: bool
    default: false
  ip_addresses:
    description:
      - Add the global addresses the guest agent reports (RV(vms[].ip_addresses)) for running VMs. VMs without
        an agent, or whose agent does not answer, get an empty list.
    type: bool
    default: false
seealso:
  - module: pve.cloud.qemu
  - plugin: pve.cloud.proxmox
    plugin_type: inventory
'''

EXAMPLES = r'''
- name: All running VMs tagged web, with their addresses
  pve.cloud.qemu_info:
    tags: [web]
    status: running
    ip_addresses: true
  register: web

- name: The templates
  pve.cloud.qemu_info:
    template: true
  register: templates

- name: One VM with its config
  pve.cloud.qemu_info:
    name: web1
    config: true
  register: vm
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
vms:
  description: The VMs that match, ordered by VMID.
  returned: always
  type: list
  elements: dict
  contains:
    vmid:
      description: ID of the VM.
      type: int
      sample: 101
    name:
      description: Name of the VM.
      type: str
      sample: web1
    node:
      description: Node the VM is on.
      type: str
      sample: pve1
    status:
      description: Power state (C(running), C(stopped)...).
      type: str
      sample: running
    template:
      description: Whether the VM is a template.
      type: bool
    tags:
      description: Tags, sorted.
      type: list
      elements: str
      sample: [prod, web]
    pool:
      description: Pool of the VM, or null.
      type: str
    lock:
      description: Lock held on the VM (C(backup), C(clone)...), or null.
      type: str
    hastate:
      description: HA state, or null when the VM is not HA-managed.
      type: str
    maxcpu:
      description: Number of vCPUs.
      type: float
    maxmem:
      description: Memory in bytes.
      type: int
    maxdisk:
      description: Size of the boot disk in bytes.
      type: int
    uptime:
      description: Seconds since start.
      type: int
    config:
      description: The VM's config with pending values applied and secrets masked (with O(config)).
      type: dict
      returned: O(config=true)
    ip_addresses:
      description: Global addresses from the guest agent (with O(ip_addresses)).
      type: list
      elements: str
      returned: O(ip_addresses=true)
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pve.cloud.plugins.module_utils import propstring as ps
from ansible_collections.pve.cloud.plugins.module_utils.api import PVEError
from ansible_collections.pve.cloud.plugins.module_utils.addresses import addresses
from ansible_collections.pve.cloud.plugins.module_utils.guest_info import PVEGuestInfo, info_argument_spec


class QemuInfo(PVEGuestInfo):
    kind = 'qemu'
    result_key = 'vms'
    addresses_option = 'ip_addresses'

    def addresses(self, path, guest, config):
        if config is not None:
            agent = ps.parse(config.get('agent') or '0', dict(default_key='enabled'))
            try:
                if not ps.to_bool(agent.get('enabled', 0)):
                    return []
            except ValueError:
                return []
        try:
            answer = self.client.get(path + '/agent/network-get-interfaces') or {}
        except PVEError as err:
            # no agent configured, or not running in the guest: PVE answers 500
            if err.kind == 'http' and err.status in (500, 596):
                return []
            raise
        return addresses(answer.get('result'))


def main():
    spec = info_argument_spec(['running', 'stopped', 'paused'])
    spec.update(ip_addresses=dict(type='bool', default=False))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    QemuInfo(module).run()


if __name__ == '__main__':
    main()
