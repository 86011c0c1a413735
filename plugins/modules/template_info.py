#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: template_info
short_description: List container templates, ISO images and cloud images on Proxmox VE storages, and the appliance catalogue
version_added: 0.1.0
description:
  - Lists the files on the storages of one node, several nodes or every online node (content type, volume ID,
    size, format, node, creation time), so a playbook can look before it downloads.
  - Optionally lists the node's appliance catalogue (what C(pveam available) shows), filtered by name, section
    and OS.
author:
  - pve.cloud developers (@pve-cloud)
extends_documentation_fragment:
  - pve.cloud.api
  - pve.cloud.api.actiongroups
  - pve.cloud.attributes
options:
  node:
    description: Only this node. Without O(node) and O(nodes), every online node.
    type: str
  nodes:
    description: Only these nodes.
    type: list
    elements: str
  storage:
    description: Only this storage.
    type: str
  content:
    description: Only these content types.
    type: list
    elements: str
    choices: [iso, vztmpl, import]
    default: [iso, vztmpl, import]
  filename:
    description: Only files whose name matches this glob (C(debian-13-*)).
    type: str
  appliances:
    description: Also list the appliance catalogue (RV(appliances)) of the first node.
    type: bool
    default: false
  appliance:
    description: Only catalogue entries whose template or package name matches this glob (implies O(appliances)).
    type: str
  section:
    description: Only catalogue entries of this section (C(system), C(turnkeylinux), ...; implies O(appliances)).
    type: str
  os:
    description: Only catalogue entries for this OS (C(debian-13), ...; implies O(appliances)).
    type: str
seealso:
  - module: pve.cloud.template
'''

EXAMPLES = r'''
- name: What ISO images are on the nodes
  pve.cloud.template_info:
    content: [iso]
  register: isos

- name: The newest Debian appliances PVE offers, and whether pve1 has them
  pve.cloud.template_info:
    node: pve1
    content: [vztmpl]
    appliance: debian-*
    section: system
  register: debian

- name: Download the newest one only where it is missing
  pve.cloud.template:
    appliance: "{{ (debian.appliances | map(attribute='template') | list)[-1] }}"
    node: pve1
  when: debian.volumes | selectattr('volid', 'search', (debian.appliances | map(attribute='template') | list)[-1])
        | list | length == 0
'''

RETURN = r'''
volumes:
  description: The files found, ordered by node, storage and volume ID; a shared storage is listed once.
  returned: always
  type: list
  elements: dict
  contains:
    node:
      description: The node the file was listed on (the first node of a shared storage).
      type: str
      sample: pve1
    storage:
      description: The storage.
      type: str
      sample: local
    volid:
      description: Volume ID.
      type: str
      sample: local:iso/debian-13.iso
    content:
      description: Content type (C(iso), C(vztmpl), C(import)).
      type: str
      sample: iso
    format:
      description: Format PVE reports (C(iso), C(tzst), C(qcow2)...).
      type: str
      sample: iso
    size:
      description: Size in bytes.
      type: int
      sample: 734003200
    ctime:
      description: Creation time (seconds since the epoch).
      type: int
      sample: 1764680000
    shared:
      description: Whether the storage is shared between nodes.
      type: bool
appliances:
  description: Catalogue entries that match, ordered by package and version (newest last).
  returned: when O(appliances), O(appliance), O(section) or O(os) is set
  type: list
  elements: dict
  contains:
    template:
      description: File name (what O(pve.cloud.template#module:appliance) takes).
      type: str
      sample: debian-13-standard_13.1-1_amd64.tar.zst
    package:
      description: Package name.
      type: str
      sample: debian-13-standard
    version:
      description: Version.
      type: str
      sample: 13.1-1
    section:
      description: Section.
      type: str
      sample: system
    os:
      description: OS.
      type: str
      sample: debian-13
    headline:
      description: One-line description.
      type: str
    sha512sum:
      description: The checksum PVE verifies after the download.
      type: str
    location:
      description: Where PVE downloads it from.
      type: str
api_calls:
  description: Every API call the module made, as C(METHOD path -> status (seconds)); never parameters or secrets.
  returned: when run with C(-vvv)
  type: list
  elements: str
'''

import fnmatch

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pve.cloud.plugins.module_utils.api import api_argument_spec
from ansible_collections.pve.cloud.plugins.module_utils.base import InputError, PVEModule
from ansible_collections.pve.cloud.plugins.module_utils import storage as content_utils

APPLIANCE_KEYS = ('template', 'package', 'version', 'section', 'os', 'type', 'headline', 'description',
                  'architecture', 'sha512sum', 'location', 'infopage')


class TemplateInfo(PVEModule):

    def execute(self):
        p = self.params
        nodes = self.nodes()
        volumes, seen_shared = [], set()
        for node in nodes:
            for sid, entry in sorted(self.node_storages(node).items()):
                if p.get('storage') and sid != p['storage']:
                    continue
                kinds = [c for c in p['content'] if c in str(entry.get('content', '')).split(',')]
                shared = str(entry.get('shared', 0)) == '1'
                if not kinds or (shared and sid in seen_shared):
                    continue
                if shared:
                    seen_shared.add(sid)
                volumes.extend(self.files(node, sid, kinds, shared))
        if p.get('storage') and not volumes and not any(p['storage'] in self.node_storages(n) for n in nodes):
            raise InputError('storage', "storage '%s' is on none of the nodes %s" % (p['storage'], ', '.join(nodes)))
        self.result['volumes'] = volumes
        if p['appliances'] or p.get('appliance') or p.get('section') or p.get('os'):
            self.result['appliances'] = self.appliances(nodes[0])

    def nodes(self):
        p = self.params
        cluster = dict((n.get('node'), n.get('status')) for n in self.client.get('/nodes') or [])
        if not p.get('node') and not p.get('nodes'):
            return sorted(n for n, s in cluster.items() if s == 'online')
        wanted = [p['node']] if p.get('node') else p['nodes']
        for node in wanted:
            if node not in cluster:
                raise InputError('node' if p.get('node') else 'nodes', "node '%s' is not in the cluster (nodes: %s)"
                                 % (node, ', '.join(sorted(cluster))))
        return [n for n in dict.fromkeys(wanted) if cluster[n] == 'online']

    def files(self, node, storage, kinds, shared):
        out = []
        for kind in kinds:
            for vol in self.client.get('/nodes/%s/storage/%s/content' % (node, storage), content=kind) or []:
                name = vol.get('volid', '').split(':', 1)[-1].split('/', 1)[-1]
                if self.params.get('filename') and not fnmatch.fnmatchcase(name, self.params['filename']):
                    continue
                out.append(dict(node=node, storage=storage, volid=vol.get('volid'), content=vol.get('content', kind),
                                format=vol.get('format'), size=vol.get('size'), ctime=vol.get('ctime'), shared=shared))
        return sorted(out, key=lambda v: v['volid'])

    def appliances(self, node):
        p = self.params
        out = []
        for entry in self.client.get('/nodes/%s/aplinfo' % node) or []:
            if p.get('appliance') and not (fnmatch.fnmatchcase(entry.get('template', ''), p['appliance'])
                                           or fnmatch.fnmatchcase(entry.get('package', ''), p['appliance'])):
                continue
            if p.get('section') and entry.get('section') != p['section']:
                continue
            if p.get('os') and entry.get('os') != p['os']:
                continue
            out.append(dict((k, entry[k]) for k in APPLIANCE_KEYS if k in entry))
        return sorted(out, key=lambda e: (e.get('package', ''), content_utils.version_key(e.get('version'))))


def main():
    spec = api_argument_spec()
    spec.update(
        node=dict(type='str'),
        nodes=dict(type='list', elements='str'),
        storage=dict(type='str'),
        content=dict(type='list', elements='str', choices=['iso', 'vztmpl', 'import'],
                     default=['iso', 'vztmpl', 'import']),
        filename=dict(type='str'),
        appliances=dict(type='bool', default=False),
        appliance=dict(type='str'),
        section=dict(type='str'),
        os=dict(type='str'),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True, mutually_exclusive=[('node', 'nodes')])
    TemplateInfo(module).run()


if __name__ == '__main__':
    main()
