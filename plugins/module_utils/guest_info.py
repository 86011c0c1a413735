# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What the *_info modules of every guest kind share: one /cluster/resources call for the list,
the filters, and optionally each guest's config and addresses."""

from __future__ import annotations

from ansible_collections.pve.cloud.plugins.module_utils import propstring as ps
from ansible_collections.pve.cloud.plugins.module_utils.api import PVEError, api_argument_spec
from ansible_collections.pve.cloud.plugins.module_utils.base import PVEModule
from ansible_collections.pve.cloud.plugins.module_utils.guest import redact

FIELDS = ('vmid', 'name', 'node', 'status', 'pool', 'lock', 'hastate', 'maxcpu', 'maxmem', 'maxdisk', 'uptime')


def info_argument_spec(statuses):
    spec = api_argument_spec()
    spec.update(
        name=dict(type='str'),
        vmid=dict(type='int'),
        node=dict(type='str'),
        pool=dict(type='str'),
        tags=dict(type='list', elements='str'),
        status=dict(type='str', choices=list(statuses)),
        template=dict(type='bool'),
        config=dict(type='bool', default=False),
    )
    return spec


class PVEGuestInfo(PVEModule):
    """Lists the guests of one kind; a kind sets `kind`, `result_key` and `addresses_option` and
    implements addresses(path, guest, config) for a running guest."""

    kind = None
    result_key = None
    addresses_option = None

    def execute(self):
        p = self.params
        guests = []
        for entry in self.client.get('/cluster/resources', type='vm') or []:
            if entry.get('type') != self.kind or not self.wanted(entry):
                continue
            guest = dict((k, entry.get(k)) for k in FIELDS)
            guest['vmid'] = int(guest['vmid'])
            guest['template'] = bool(int(entry.get('template') or 0))
            guest['tags'] = ps.parse_tags(entry.get('tags'))
            guests.append(guest)
        guests.sort(key=lambda g: g['vmid'])
        if not guests:
            reason = self.audit_wall('%s guests' % self.kind, partial_ok=True)
            if reason:
                raise PVEError(reason, kind='permission', reason='permission', path='/vms')
        for guest in guests:
            path = '/nodes/%s/%s/%s' % (guest['node'], self.kind, guest['vmid'])
            config = None
            if p['config']:
                config = self.client.get(path + '/config') or {}
                guest['config'] = redact(config)
            if p[self.addresses_option]:
                # a stopped guest or a template has no address (pve-container answers null)
                running = guest['status'] == 'running' and not guest['template']
                guest[self.addresses_option] = self.addresses(path, guest, config) if running else []
        self.result = {'changed': False, self.result_key: guests}

    def wanted(self, entry):
        p = self.params
        template = bool(int(entry.get('template') or 0))
        return ((p['vmid'] is None or int(entry['vmid']) == p['vmid'])
                and (p['name'] is None or entry.get('name') == p['name'])
                and (p['node'] is None or entry.get('node') == p['node'])
                and (p['pool'] is None or entry.get('pool') == p['pool'])
                and (p['status'] is None or entry.get('status') == p['status'])
                and (p['template'] is None or template == p['template'])
                and set(ps.parse_tags(p['tags'])) <= set(ps.parse_tags(entry.get('tags'))))

    def addresses(self, path, guest, config):
        raise NotImplementedError
