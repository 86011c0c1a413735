#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: ha
short_description: High availability of Proxmox VE guests, and HA rules
version_added: 0.3.0
description:
  - With O(vmid) or O(name), manages the HA resource of that guest (C(vm:100), C(ct:200)) and its requested
    state.
  - With O(rule), manages a PVE 9 HA rule instead, over guests that are HA resources already; O(nodes) makes it a
    node affinity rule (which nodes, with priorities), O(affinity) a resource affinity rule (keep the guests on
    one node, or apart).
  - PVE 8 clusters (read from C(/version)) have HA groups instead of rules. There a node affinity rule is
    kept as an HA group - O(nodes) with their priorities, O(strict) as C(restricted), O(failback) as
    C(nofailback) inverted - and the C(group) of each of its O(resources), so one playbook serves both versions.
    The group is named after O(rule) without a leading C(ha-group-), because PVE 9 migrates group C(G) into rule
    C(ha-group-G), so O(rule=ha-group-G) names the same object before and after the upgrade.
  - On PVE 8, resource affinity (O(affinity)), a disabled rule (O(enabled=false)) and a resource's own
    O(failback) are refused before any write, naming the version.
author:
  - pve.cloud developers (@pve-cloud)
extends_documentation_fragment:
  - pve.cloud.api
  - pve.cloud.api.actiongroups
attributes:
  check_mode:
    description: Plans the creation, change or removal and sends no write.
    support: full
  diff_mode:
    description: The resource's or rule's settings before and after.
    support: full
options:
  vmid:
    description: VMID of the guest whose HA resource to manage.
    type: int
  name:
    description: Name of the guest whose HA resource to manage; must name exactly one guest.
    type: str
  kind:
    description: V(qemu) or V(lxc); only checked against the guest found.
    type: str
    choices: [qemu, lxc]
  state:
    description:
      - For an HA resource, the state the HA manager keeps the guest in - V(started), V(stopped), V(disabled)
        (stopped and not recovered), V(ignored) (not touched by HA) - or V(absent) to remove it from HA.
      - For a rule, V(present) or V(absent). The default is V(started) for a resource, V(present) for a rule.
    type: str
    choices: [started, stopped, disabled, ignored, present, absent]
  max_restart:
    description: Restarts on the same node after a failed start before the guest is relocated (PVE's default 1).
    type: int
  max_relocate:
    description: Relocations to other nodes after failed starts (PVE's default 1).
    type: int
  failback:
    description:
      - Move the guest back to its highest-priority node when that node returns (PVE's default true).
      - PVE 9 keeps it per resource (set it with O(vmid) or O(name)); PVE 8 per group (set it with O(rule)); the
        other combinations are refused before any write.
    type: bool
  comment:
    description: Comment of the resource or rule; V('') removes it.
    type: str
  rule:
    description: ID of the HA rule to manage (letters, digits, C(-) and C(_)); excludes O(vmid) and O(name).
    type: str
  resources:
    description: The guests of the rule, by VMID, name or HA resource ID (V(vm:100)); each must be an HA resource.
    type: list
    elements: raw
  nodes:
    description:
      - Node affinity - the nodes the guests should run on, as a mapping of node to priority (higher first) or a
        plain list (all the same priority).
    type: raw
  strict:
    description: Node affinity only - never run the guests elsewhere, even when none of O(nodes) is available.
    type: bool
    default: false
  affinity:
    description: Resource affinity - V(positive) keeps the guests on one node, V(negative) on different nodes.
    type: str
    choices: [positive, negative]
  enabled:
    description: Whether the rule is in force (PVE's C(disable) inverted).
    type: bool
    default: true
notes:
  - Managing HA resources and rules needs C(Sys.Console) on C(/) (reading them C(Sys.Audit)).
'''

EXAMPLES = r'''
- name: Keep web1 running with HA
  pve.cloud.ha:
    name: web1
    state: started
    max_relocate: 2

- name: Prefer pve1, then pve2, for the web VMs
  pve.cloud.ha:
    rule: web-nodes
    resources: [web1, web2]
    nodes: {pve1: 2, pve2: 1}

- name: Never run the two database replicas on the same node
  pve.cloud.ha:
    rule: db-apart
    resources: [101, 102]
    affinity: negative

- name: The same task on PVE 9 (rule ha-group-web) and PVE 8 (HA group web, restricted)
  pve.cloud.ha:
    rule: ha-group-web
    resources: [web1, web2]
    nodes: {pve1: 2, pve2: 1}
    strict: true

- name: Take web1 out of HA
  pve.cloud.ha:
    name: web1
    state: absent
'''

RETURN = r'''
sid:
  description: HA resource ID of the guest (with O(vmid) or O(name)).
  returned: when managing a resource
  type: str
  sample: vm:101
resource:
  description:
    - The HA resource after the task (as planned in check mode); absent when removed.
    - C(failback) on PVE 9; on PVE 8 C(group) instead, when a node affinity rule put the guest in one.
  returned: when managing a resource
  type: dict
  sample: {sid: "vm:101", state: started, max_restart: 1, max_relocate: 2, failback: true}
rule:
  description:
    - The rule after the task (as planned in check mode); absent when removed.
    - On PVE 8 also C(group) (the HA group's name) and C(failback) (the group's C(nofailback) inverted).
  returned: when managing a rule
  type: dict
  sample: {rule: web-nodes, type: node-affinity, resources: ["vm:101", "vm:102"], nodes: "pve1:2,pve2:1",
           strict: false, enabled: true}
actions:
  description: What was done (or would be done in check mode).
  returned: always
  type: list
  elements: dict
tasks:
  description: Always empty (HA changes are synchronous); kept for the shape every pve.cloud module returns.
  returned: always
  type: list
  elements: str
'''

import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pve.cloud.plugins.module_utils.base import InputError
from ansible_collections.pve.cloud.plugins.module_utils.day2 import CONFIGID_RE, GuestTargetModule, guest_argument_spec

SID_RE = re.compile(r'^(vm|ct):(\d+)$')
RESOURCE_STATES = ('started', 'stopped', 'disabled', 'ignored', 'absent')


def sorted_nodes(text):
    """A node list (pve1:2,pve2) in node order: PVE 8 prints a group's nodes in Perl hash order."""
    entries = [e.strip() for e in str(text or '').split(',') if e.strip()]
    return ','.join(sorted(entries, key=lambda e: e.split(':')[0]))


def sid_of(guest):
    return '%s:%s' % ('vm' if guest.kind == 'qemu' else 'ct', guest.vmid)


class HA(GuestTargetModule):

    def __init__(self, module):
        super(HA, self).__init__(module)
        self._release = None

    def execute(self):
        p = self.params
        if p['rule']:
            self.manage_rule()
        else:
            self.manage_resource()
        self.result['diff'] = self.diff

    @property
    def release(self):
        """The cluster's PVE release ('9.2', '8.4'), read once from /version."""
        if self._release is None:
            self._release = str((self.client.get('/version') or {}).get('release') or '')
        return self._release

    @property
    def groups_era(self):
        """PVE before 9 has HA groups (groups.cfg) where 9 has node affinity rules."""
        major = re.match(r'^(\d+)', self.release)
        return bool(major) and int(major.group(1)) < 9

    def ha_resources(self):
        """The HA resources by SID: one GET /cluster/ha/resources (cached for the run)."""
        if getattr(self, '_ha_resources', None) is None:
            self._ha_resources = dict((e['sid'], e) for e in self.client.get('/cluster/ha/resources') or [])
        return self._ha_resources

    # -- HA resources --------------------------------------------------------------------------

    def manage_resource(self):
        p = self.params
        state = p['state'] or 'started'
        if state not in RESOURCE_STATES:
            raise InputError('state', "'%s' is a rule state; an HA resource is started, stopped, disabled, ignored "
                                      "or absent" % state)
        for key in ('resources', 'nodes', 'affinity'):
            if p[key] is not None:
                raise InputError(key, '%s belongs to a rule: set rule, not vmid or name' % key)
        if p['failback'] is not None and self.groups_era:
            raise InputError('failback', "a resource's failback came with PVE 9; this cluster runs %s, where it is "
                                         "the HA group's nofailback: set failback on the node affinity rule (rule, "
                                         "resources, nodes) of this guest instead" % self.release)
        guest = self.target()
        sid = sid_of(guest)
        self.result['sid'] = sid
        current = self.ha_resources().get(sid)
        before = self.resource_view(current)
        if state == 'absent':
            self.record_diff('resource', before, None)
            if current is not None and self.plan('remove', sid=sid):
                self.client.delete('/cluster/ha/resources/%s' % sid)
            return
        want = dict(state=state)
        for key in ('max_restart', 'max_relocate', 'comment'):
            if p[key] is not None:
                want[key] = p[key]
        if p['failback'] is not None:
            want['failback'] = 1 if p['failback'] else 0
        if current is None:
            after = dict(want)
            if self.plan('add', sid=sid, state=state):
                self.client.post('/cluster/ha/resources', sid=sid, **dict((k, v) for k, v in want.items() if v != ''))
        else:
            changes = dict((k, v) for k, v in want.items() if str(current.get(k, '')) != str(v))
            after = dict(current, **changes)
            if changes and self.plan('update', sid=sid, changes=sorted(changes)):
                params = dict((k, v) for k, v in changes.items() if v != '')
                deletes = sorted(k for k, v in changes.items() if v == '')
                if deletes:
                    params['delete'] = ','.join(deletes)
                self.client.put('/cluster/ha/resources/%s' % sid, digest=current.get('digest'), **params)
        after = self.resource_view(dict(after, sid=sid))
        self.record_diff('resource', before, after)
        self.result['resource'] = after

    def resource_view(self, entry):
        if entry is None:
            return None
        view = dict(sid=entry['sid'], state=entry.get('state', 'started'),
                    max_restart=int(entry.get('max_restart', 1)), max_relocate=int(entry.get('max_relocate', 1)))
        if self.groups_era:
            # the group (PVE 8) belongs to the node affinity rule that made it, so it is shown, never changed here
            if entry.get('group'):
                view['group'] = entry['group']
        else:
            view['failback'] = bool(int(entry.get('failback', 1)))
        if entry.get('comment'):
            view['comment'] = entry['comment']
        return view

    # -- HA rules ------------------------------------------------------------------------------

    def manage_rule(self):
        p = self.params
        if p['vmid'] is not None or p['name']:
            raise InputError('rule', 'rule manages an HA rule; vmid and name manage a guest: set one or the other')
        state = p['state'] or 'present'
        if state not in ('present', 'absent'):
            raise InputError('state', "a rule is present or absent, not '%s'" % state)
        if not CONFIGID_RE.match(p['rule']):
            raise InputError('rule', "'%s' is not a rule ID PVE takes: a letter, then letters, digits, '-' or '_'"
                             % p['rule'])
        if self.groups_era:
            return HAGroup(self).manage()
        if p['failback'] is not None:
            raise InputError('failback', "on PVE 9 failback is each HA resource's own setting: set it with vmid or "
                                         "name, not on the rule (only PVE 8 keeps it on the group)")
        current = dict((e['rule'], e) for e in self.client.get('/cluster/ha/rules') or []).get(p['rule'])
        before = self.rule_view(current)
        if state == 'absent':
            self.record_diff('rule', before, None)
            if current is not None and self.plan('remove', rule=p['rule']):
                self.client.delete('/cluster/ha/rules/%s' % p['rule'])
            return
        want = self.desired_rule()
        if current is None:
            if self.plan('add', rule=p['rule'], type=want['type']):
                self.client.post('/cluster/ha/rules', rule=p['rule'], **dict((k, v) for k, v in want.items() if v != ''))
            after = dict(want, rule=p['rule'])
        else:
            if current.get('type') != want['type']:
                raise InputError('rule', "rule '%s' is a %s rule: remove it first (state: absent) to make it a %s rule"
                                 % (p['rule'], current.get('type'), want['type']))
            changes = dict((k, v) for k, v in want.items() if str(current.get(k, '')) != str(v) and k != 'type')
            after = dict(current, **changes)
            if changes and self.plan('update', rule=p['rule'], changes=sorted(changes)):
                params = dict((k, v) for k, v in changes.items() if v != '')
                if changes.get('comment') == '':
                    params['delete'] = 'comment'
                self.client.put('/cluster/ha/rules/%s' % p['rule'], digest=current.get('digest'), **params)
        after = self.rule_view(after)
        self.record_diff('rule', before, after)
        self.result['rule'] = after

    def desired_rule(self):
        p = self.params
        if (p['nodes'] is None) == (p['affinity'] is None):
            raise InputError('nodes', 'set nodes (a node affinity rule) or affinity (a resource affinity rule), '
                                      'exactly one of them')
        if not p['resources']:
            raise InputError('resources', 'a rule needs the guests it applies to in resources')
        want = dict(resources=','.join(self.resolve_resources()), disable=0 if p['enabled'] else 1)
        if p['nodes'] is not None:
            want.update(type='node-affinity', nodes=self.node_list(), strict=1 if p['strict'] else 0)
        else:
            if len(want['resources'].split(',')) < 2:
                raise InputError('resources', 'a resource affinity rule relates two or more guests')
            want.update(type='resource-affinity', affinity=p['affinity'])
        if p['comment'] is not None:
            want['comment'] = p['comment']
        return want

    def resolve_resources(self):
        """HA resource IDs of the rule's guests, sorted as PVE prints them; each must be an HA resource."""
        managed = set(self.ha_resources())
        sids = set()
        for item in self.params['resources']:
            text = str(item)
            if SID_RE.match(text):
                sid = text
            else:
                guest = self.lookup(vmid=int(text)) if text.isdigit() else self.lookup(name=text)
                if guest is None:
                    raise InputError('resources', "no guest '%s' exists or is visible: fix resources" % text)
                sid = sid_of(guest)
            if sid not in managed:
                raise InputError('resources', "%s is not an HA resource: add it first (pve.cloud.ha with vmid %s)"
                                 % (sid, sid.split(':')[1]))
            sids.add(sid)
        return sorted(sids)

    def node_list(self):
        nodes = self.params['nodes']
        if isinstance(nodes, dict):
            pairs = [(str(n), prio) for n, prio in nodes.items()]
        elif isinstance(nodes, (list, tuple)):
            pairs = [(str(n), None) for n in nodes]
        else:
            raise InputError('nodes', 'nodes is a mapping of node to priority or a list of nodes')
        known = sorted(n.get('node') for n in self.client.get('/nodes') or [])
        for node, prio in pairs:
            if node not in known:
                raise InputError('nodes', "node '%s' is not in the cluster (nodes: %s)" % (node, ', '.join(known)))
            if prio is not None and (not str(prio).isdigit()):
                raise InputError('nodes', "the priority of node '%s' must be a whole number >= 0, not %r" % (node, prio))
        return ','.join(n if p is None else '%s:%s' % (n, int(p)) for n, p in sorted(pairs))

    @staticmethod
    def rule_view(entry):
        if entry is None:
            return None
        view = dict(rule=entry['rule'], type=entry['type'], resources=str(entry.get('resources', '')).split(','),
                    enabled=not int(entry.get('disable') or 0))
        if entry['type'] == 'node-affinity':
            view.update(nodes=entry.get('nodes'), strict=bool(int(entry.get('strict') or 0)))
        else:
            view['affinity'] = entry.get('affinity')
        if entry.get('comment'):
            view['comment'] = entry['comment']
        return view


class HAGroup(object):
    """A node affinity rule on PVE 8: an HA group (nodes with priorities, restricted, nofailback) and the
    `group` of each of its resources, so the same task works before and after the upgrade to PVE 9.

    The group is named after the rule without a leading ``ha-group-``: PVE 9 migrates group G into rule
    ha-group-G (pve-ha-manager Groups.pm migrate_groups_to_rules), so a task declaring that rule keeps managing
    the same object across the upgrade.
    """

    PREFIX = 'ha-group-'

    def __init__(self, ha):
        self.ha = ha
        self.client = ha.client
        self.p = ha.params
        rule = self.p['rule']
        self.name = rule[len(self.PREFIX):] if rule.startswith(self.PREFIX) else rule

    def manage(self):
        p, ha = self.p, self.ha
        self.check_input()
        current = dict((e['group'], e) for e in self.client.get('/cluster/ha/groups') or []).get(self.name)
        resources = ha.ha_resources()
        members = sorted(sid for sid, e in resources.items() if e.get('group') == self.name)
        before = self.view(current, members)
        if (p['state'] or 'present') == 'absent':
            ha.record_diff('rule', before, None)
            for sid in members:
                if ha.plan('unassign', sid=sid, group=self.name):
                    self.client.put('/cluster/ha/resources/%s' % sid, delete='group')
            if current is not None and ha.plan('remove', rule=p['rule'], group=self.name):
                self.client.delete('/cluster/ha/groups/%s' % self.name)
            return
        want = self.desired()
        wanted = ha.resolve_resources()
        self.write_group(current, want)
        for sid in wanted:
            old = resources[sid].get('group')
            if old != self.name and ha.plan('assign', sid=sid, group=self.name, **({'from': old} if old else {})):
                self.client.put('/cluster/ha/resources/%s' % sid, group=self.name)
        for sid in members:
            if sid not in wanted and ha.plan('unassign', sid=sid, group=self.name):
                self.client.put('/cluster/ha/resources/%s' % sid, delete='group')
        after = self.view(dict(current or {}, **want), wanted)
        ha.record_diff('rule', before, after)
        ha.result['rule'] = after

    def check_input(self):
        """Everything PVE 8's groups cannot say is refused here, before any write."""
        p = self.p
        if not CONFIGID_RE.match(self.name):
            raise InputError('rule', "'%s' names no HA group PVE takes (the group is the rule without a leading "
                                     "'%s'): a letter, then letters, digits, '-' or '_'" % (self.name, self.PREFIX))
        if (p['state'] or 'present') == 'absent':
            return
        if p['affinity'] is not None:
            raise InputError('affinity', 'resource affinity rules came with PVE 9; this cluster runs %s, whose HA '
                                         'groups only say which nodes a guest runs on: drop this rule or upgrade'
                             % self.ha.release)
        if p['nodes'] is None:
            raise InputError('nodes', 'on PVE %s a rule is an HA group: set nodes (the nodes, with priorities)'
                             % self.ha.release)
        if not p['enabled']:
            raise InputError('enabled', 'PVE %s cannot disable an HA group: remove the rule (state: absent) instead'
                             % self.ha.release)
        if not p['resources']:
            raise InputError('resources', 'a rule needs the guests it applies to in resources')

    def desired(self):
        p = self.p
        want = dict(nodes=self.ha.node_list(), restricted=1 if p['strict'] else 0)
        if p['failback'] is not None:
            want['nofailback'] = 0 if p['failback'] else 1
        if p['comment'] is not None:
            want['comment'] = p['comment']
        return want

    def write_group(self, current, want):
        ha, rule = self.ha, self.p['rule']
        if current is None:
            if ha.plan('add', rule=rule, group=self.name, type='group'):
                self.client.post('/cluster/ha/groups', group=self.name,
                                 **dict((k, v) for k, v in want.items() if v != ''))
            return
        # restricted and nofailback read back only when set: PVE fills in no defaults for groups
        have = dict(current, nodes=sorted_nodes(current.get('nodes')))
        changes = dict((k, v) for k, v in want.items() if str(have.get(k, 0 if k != 'comment' else '')) != str(v))
        if changes and ha.plan('update', rule=rule, group=self.name, changes=sorted(changes)):
            params = dict((k, v) for k, v in changes.items() if v != '')
            if changes.get('comment') == '':
                params['delete'] = 'comment'
            self.client.put('/cluster/ha/groups/%s' % self.name, digest=current.get('digest'), **params)

    def view(self, entry, members):
        if entry is None:
            return None
        view = dict(rule=self.p['rule'], group=self.name, type='node-affinity', resources=list(members),
                    nodes=sorted_nodes(entry.get('nodes')), strict=bool(int(entry.get('restricted') or 0)), enabled=True,
                    failback=not int(entry.get('nofailback') or 0))
        if entry.get('comment'):
            view['comment'] = entry['comment']
        return view


def main():
    spec = guest_argument_spec(
        {},
        state=dict(type='str', choices=['started', 'stopped', 'disabled', 'ignored', 'present', 'absent']),
        max_restart=dict(type='int'),
        max_relocate=dict(type='int'),
        failback=dict(type='bool'),
        comment=dict(type='str'),
        rule=dict(type='str'),
        resources=dict(type='list', elements='raw'),
        nodes=dict(type='raw'),
        strict=dict(type='bool', default=False),
        affinity=dict(type='str', choices=['positive', 'negative']),
        enabled=dict(type='bool', default=True),
    )
    spec.pop('timeouts')
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           required_one_of=[('vmid', 'name', 'rule')])
    HA(module).run()


if __name__ == '__main__':
    main()
