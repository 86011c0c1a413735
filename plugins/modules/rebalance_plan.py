#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: rebalance_plan
short_description: Plan guest migrations that balance a Proxmox VE cluster, or empty a node for maintenance
version_added: 0.3.0
description:
  - Reads C(/cluster/resources) once (nodes and guests with their load figures) and the HA configuration
    (C(/cluster/ha/resources), and C(/cluster/ha/rules) when there are HA resources), and returns the migrations
    that bring every node's load within O(threshold) of the cluster's mean. It writes nothing; the
    P(pve.cloud.rebalance#role) role carries the plan out with M(pve.cloud.qemu) and M(pve.cloud.lxc).
  - Load is memory or CPU (O(metric)) as used now or as assigned to the guests (O(mode)), counted for running guests
    only, as a fraction of each node's capacity; the mean is the cluster's total load over its total capacity.
  - Before balancing, the plan sends the guests whose maintenance ends (O(maintenance_end)) home, empties the nodes in
    O(maintenance), moves pinned guests onto their nodes and separates anti-affinity groups that share a node.
  - Balancing is greedy - the single move that lowers the spread of the loads most, again and again, until every node
    is within the threshold, no move helps, or O(max_moves) is reached. Each guest moves at most once per plan, and
    the same cluster always gives the same plan, so a plan carried out leaves nothing for the next one.
  - Tags (with O(tag_prefix), by default V(rebalance-)) steer the plan - V(rebalance-affinity-NAME) keeps guests
    together (they move as one group), V(rebalance-anti-affinity-NAME) keeps them on different nodes,
    V(rebalance-pin-NODE) (one or more) limits a guest to those nodes, V(rebalance-ignore) never moves it (its load
    still counts). V(rebalance-home-NODE) is set on a guest that O(maintenance) moves off NODE, so that
    O(maintenance_end) can move it back.
  - HA rules are respected - a guest in a node-affinity rule goes only to the highest-priority nodes of that rule that
    are available (where the HA manager keeps it), positive resource-affinity rules move their guests together,
    negative ones keep them apart. PVE 8 HA groups are read in place of node-affinity rules.
author:
  - pve.cloud developers (@pve-cloud)
extends_documentation_fragment:
  - pve.cloud.api
  - pve.cloud.api.actiongroups
  - pve.cloud.attributes
options:
  metric:
    description: What to balance - V(memory) or V(cpu).
    type: str
    choices: [memory, cpu]
    default: memory
  mode:
    description:
      - V(assigned) compares what the running guests are configured with (C(maxmem), C(maxcpu)); these figures stay put, so a
        second run plans nothing unless the cluster changed.
      - V(used) compares what they use now (C(mem), C(cpu) of C(/cluster/resources)), and the nodes' own use outside their
        guests; it follows the real load, and moves again when the load shifts by more than O(threshold).
    type: str
    choices: [used, assigned]
    default: assigned
  threshold:
    description:
      - How far, in percentage points of a node's capacity, a node's load may be from the mean before guests are
        moved (V(10) - a node at 65% is fine when the mean is 58%).
    type: int
    default: 10
  maintenance:
    description:
      - Nodes to empty - every guest on them (running or stopped; templates, ignored and locked guests stay, listed in
        RV(unplaced)) goes to another node, tagged V(rebalance-home-NODE). Nodes in maintenance take no guests.
    type: list
    elements: str
    default: []
  maintenance_end:
    description: Nodes whose maintenance is over - the guests tagged V(rebalance-home-NODE) go back, and lose the tag.
    type: list
    elements: str
    default: []
  balance:
    description:
      - Balance the loads after the maintenance moves. V(false) plans only the maintenance moves, pins and anti-affinity.
    type: bool
    default: true
  exclude_nodes:
    description: Nodes left out of balancing - they take no guests, and their guests are not moved (except by O(maintenance)).
    type: list
    elements: str
    default: []
  kinds:
    description:
      - Which guests may be moved - V(qemu) (VMs, live when running) and V(lxc) (containers; a running one restarts on
        the target, PVE has no live migration for containers).
    type: list
    elements: str
    choices: [qemu, lxc]
    default: [qemu, lxc]
  tag_prefix:
    description: The prefix of the tags that steer the plan (see the description).
    type: str
    default: rebalance-
  max_moves:
    description: At most this many migrations in one plan.
    type: int
    default: 50
  parallel:
    description: How many migrations the role runs at once (the size of each wave in RV(waves)).
    type: int
    default: 2
  parallel_per_node:
    description: How many migrations of one wave may leave or reach the same node.
    type: int
    default: 2
notes:
  - A guest goes only where its configured memory fits into the node's free memory (C(maxmem) minus C(mem) of the node,
    the planned moves counted).
  - Nodes without C(Sys.Audit) for the caller are not listed by PVE with their figures; they take no guests.
  - The plan does not read guest configs, so it cannot know about local disks or passed-through devices; the
    guest modules check each migration with PVE's own precondition answer before they send it.
  - The cost is C(GET /cluster/resources) and C(GET /cluster/ha/resources), plus C(GET /cluster/ha/rules) when there are
    HA resources (C(/cluster/ha/groups) instead on PVE 8, when a resource is in a group).
seealso:
  - module: pve.cloud.qemu
  - module: pve.cloud.lxc
  - module: pve.cloud.ha
'''

EXAMPLES = r'''
- name: Plan the moves that bring every node within 10 points of the mean memory assigned
  pve.cloud.rebalance_plan:
    metric: memory
    mode: assigned
    threshold: 10
  register: plan

- name: Show the plan
  ansible.builtin.debug:
    msg: "{{ plan.moves | pve.cloud.table(['vmid', 'guest', 'source', 'target', 'why']) }}"

- name: Plan emptying pve2 for maintenance (no balancing)
  pve.cloud.rebalance_plan:
    maintenance: [pve2]
    balance: false
  register: evacuation

- name: Plan the way back once pve2 is up again
  pve.cloud.rebalance_plan:
    maintenance_end: [pve2]
    balance: false
  register: comeback
'''

RETURN = r'''
moves:
  description:
    - The migrations, in order. C(tags) is the guest's new tag list when the move changes its tags (the home tag of a
      maintenance move), else V(null); a move back from maintenance to a guest already home has C(source) equal to
      C(target) and only drops the tag.
  returned: always
  type: list
  elements: dict
  contains:
    vmid:
      description: VMID of the guest.
      type: int
    guest:
      description: Its name.
      type: str
    kind:
      description: V(qemu) or V(lxc).
      type: str
    source:
      description: The node it is on.
      type: str
    target:
      description: The node it goes to.
      type: str
    why:
      description: Why it moves (the load above the mean, maintenance, a pin, anti-affinity, back from maintenance).
      type: str
    running:
      description: Whether it runs (a running VM moves live, a running container restarts on the target).
      type: bool
    ha:
      description: Whether it is an HA resource (the guest modules move it through the HA manager).
      type: bool
    tags:
      description: Its tags after the move, when the move changes them; else V(null).
      type: list
      elements: str
  sample: [{vmid: 101, guest: web1, kind: qemu, source: pve1, target: pve3, why: load 81.2% above the mean 54.0%,
            running: true, ha: false, tags: null}]
waves:
  description:
    - RV(moves) split into waves of at most O(parallel) moves, each node in at most O(parallel_per_node) moves of a
      wave; each item is a list of indexes into RV(moves).
  returned: always
  type: list
  elements: list
  sample: [[0, 1], [2]]
nodes:
  description:
    - Per node - C(node), C(status), C(eligible) (may take guests), C(capacity) (bytes or CPUs), C(load_before) and
      C(load_after), C(percent_before) and C(percent_after) (of its capacity), C(guests_before) and C(guests_after).
  returned: always
  type: list
  elements: dict
  sample: [{node: pve1, status: online, eligible: true, capacity: 68719476736, load_before: 25769803776,
            load_after: 12884901888, percent_before: 37.5, percent_after: 18.8, guests_before: 6, guests_after: 3}]
unplaced:
  description: Guests that must leave a node in maintenance but cannot, with C(vmid), C(guest), C(kind), C(node), C(running) and C(why).
  returned: always
  type: list
  elements: dict
  sample: [{vmid: 9000, guest: debian-13, kind: qemu, node: pve2, running: false, why: template}]
mean_percent:
  description: The mean load of the eligible nodes, in percent of their capacity.
  returned: always
  type: float
  sample: 25.0
balanced:
  description: Whether every eligible node is within O(threshold) of the mean after the plan.
  returned: always
  type: bool
summary:
  description: Counts of C(moves), C(waves) and C(unplaced).
  returned: always
  type: dict
  sample: {moves: 3, waves: 2, unplaced: 0}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pve.cloud.plugins.module_utils.api import PVEError, api_argument_spec
from ansible_collections.pve.cloud.plugins.module_utils.base import InputError, PVEModule
from ansible_collections.pve.cloud.plugins.module_utils.rebalance import (
    Planner, PlanInputError, Settings, check_settings)

SETTINGS = ('metric', 'mode', 'threshold', 'exclude_nodes', 'maintenance', 'maintenance_end', 'balance', 'kinds',
            'tag_prefix', 'max_moves', 'parallel', 'parallel_per_node')


class RebalancePlanModule(PVEModule):
    def execute(self):
        resources = self.cluster_resources()
        nodes = [e for e in resources if e.get('type') == 'node']
        guests = [e for e in resources if e.get('type') in ('qemu', 'lxc')]
        settings = Settings(**dict((k, self.params[k]) for k in SETTINGS))
        try:
            # bad input fails before the HA reads
            check_settings(settings, nodes)
            ha, rules, groups = self.ha_config()
            planner = Planner(settings, nodes, guests, ha, rules, groups)
        except PlanInputError as err:
            raise InputError(err.param, err.message)
        report = planner.plan()
        for warning in report.pop('warnings'):
            self.module.warn(warning)
        report['summary'] = dict(moves=len(report['moves']), waves=len(report['waves']), unplaced=len(report['unplaced']))
        self.result.update(report)
        self.result.pop('actions')
        self.result.pop('tasks')

    def ha_config(self):
        """HA resources, rules (PVE 9) and groups (PVE 8, only when a resource is in one)."""
        ha = self.client.get('/cluster/ha/resources') or []
        if not ha:
            return ha, [], []
        try:
            rules = self.client.get('/cluster/ha/rules') or []
        except PVEError as err:
            # PVE 8 has no rules: pve-manager answers 501 for a path it does not know
            if err.status not in (404, 501):
                raise
            rules = []
        groups = []
        if any(r.get('group') for r in ha):
            groups = self.client.get('/cluster/ha/groups') or []
        return ha, rules, groups


def main():
    spec = api_argument_spec()
    spec.update(
        metric=dict(type='str', choices=['memory', 'cpu'], default='memory'),
        mode=dict(type='str', choices=['used', 'assigned'], default='assigned'),
        threshold=dict(type='int', default=10),
        maintenance=dict(type='list', elements='str', default=[]),
        maintenance_end=dict(type='list', elements='str', default=[]),
        balance=dict(type='bool', default=True),
        exclude_nodes=dict(type='list', elements='str', default=[]),
        kinds=dict(type='list', elements='str', choices=['qemu', 'lxc'], default=['qemu', 'lxc']),
        tag_prefix=dict(type='str', default='rebalance-'),
        max_moves=dict(type='int', default=50),
        parallel=dict(type='int', default=2),
        parallel_per_node=dict(type='int', default=2),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    RebalancePlanModule(module).run()


if __name__ == '__main__':
    main()
