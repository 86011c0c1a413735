#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: lxc_info
short_description: List the LXC containers of a Proxmox VE cluster
version_added: 0.2.0
description:
  - Lists the containers of every node with a single C(/cluster/resources) call; the filters (host name, VMID,
    node, pool, tags, status, templates) are applied to that one answer.
  - On request it adds each container's config (a call per container) and the global addresses of each running
    one from its C(/interfaces) (a call per running container).
extends_documentation_fragment:
  - pve.cloud.guest.info
  - pve.cloud.api
  - pve.cloud.api.actiongroups
  - pve.cloud.attributes
author:
  - pve.cloud developers (@pve-cloud)
options:
  status:
    description: Only running, or only stopped, containers.
    type: str
    choices: [running, stopped]
  config:
    description: Add the config of each container listed (RV(containers[].config)).
    type: bool
    default: false
  interfaces:
    description: Add RV(containers[].interfaces), the global addresses of each running container.
    type: bool
    default: false
seealso:
  - module: pve.cloud.lxc
'''

EXAMPLES = r'''
- name: Every container of the cluster
  pve.cloud.lxc_info:
  register: cts

- name: The running web containers with their addresses
  pve.cloud.lxc_info:
    tags: [web]
    status: running
    interfaces: true
  register: web

- name: Print host name and addresses
  ansible.builtin.debug:
    msg: "{{ web.containers | items2dict(key_name='name', value_name='interfaces') }}"

- name: The container templates, with their config
  pve.cloud.lxc_info:
    template: true
    config: true
  register: templates
'''

RETURN = r'''
containers:
  description: Matching containers, by VMID.
  returned: always
  type: list
  elements: dict
  contains:
    vmid:
      description: The VMID.
      type: int
      sample: 120
    name:
      description: Host name.
      type: str
      sample: cache1
    node:
      description: Where it runs.
      type: str
      sample: pve2
    status:
      description: C(running) or C(stopped).
      type: str
    template:
      description: True for a container template.
      type: bool
    tags:
      description: Its tags, sorted.
      type: list
      elements: str
    pool:
      description: Its resource pool, null when none.
      type: str
    lock:
      description: A lock PVE holds on it, null when none.
      type: str
    hastate:
      description: HA state, null unless HA manages it.
      type: str
    maxcpu:
      description: CPU cores it may use.
      type: int
    maxmem:
      description: Memory limit in bytes.
      type: int
    maxdisk:
      description: Size of its root file system in bytes.
      type: int
    uptime:
      description: Seconds since it started.
      type: int
    config:
      description: Its config (with O(config)).
      type: dict
    interfaces:
      description: Its global addresses, empty when it is stopped (with O(interfaces)).
      type: list
      elements: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pve.cloud.plugins.module_utils.addresses import addresses
from ansible_collections.pve.cloud.plugins.module_utils.guest_info import PVEGuestInfo, info_argument_spec


class ContainerInfo(PVEGuestInfo):
    kind = 'lxc'
    result_key = 'containers'
    addresses_option = 'interfaces'

    def addresses(self, path, guest, config):
        return addresses(self.client.get(path + '/interfaces'))


def main():
    spec = info_argument_spec(['running', 'stopped'])
    spec.update(interfaces=dict(type='bool', default=False))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    ContainerInfo(module).run()


if __name__ == '__main__':
    main()
