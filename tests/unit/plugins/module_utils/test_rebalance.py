# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The rebalance planner against pvesim's /cluster/resources and HA config: balancing, tags, HA rules,
maintenance and its end, bad input, and that a carried-out plan leaves nothing to plan."""

from __future__ import annotations

import collections

import pytest

from ansible_collections.pve.cloud.plugins.module_utils.api import PVEClient, PVEError
from ansible_collections.pve.cloud.plugins.module_utils.rebalance import Planner, PlanInputError, Settings, waves

GiB = 1024 ** 3


def vm(vmid, node='pve1', memory=4096, tags=None, status='running', cores=2, **extra):
    config = {'memory': memory, 'cores': cores, 'scsi0': 'shared:4'}
    if tags:
        config['tags'] = tags
    return dict({'type': 'qemu', 'vmid': vmid, 'node': node, 'name': 'vm%d' % vmid, 'status': status,
                 'config': config}, **extra)


def client(sim):
    return PVEClient(api_host=sim.host, api_port=sim.port, ca_path=sim.ca_path, api_token_id=sim.token_id,
                     api_token_secret=sim.token_secret)


def plan(sim, **settings):
    c = client(sim)
    resources = c.get('/cluster/resources')
    ha = c.get('/cluster/ha/resources') or []
    try:
        rules = c.get('/cluster/ha/rules') or [] if ha else []
    except PVEError as err:  # PVE 8: no rules, as the module reads it
        assert err.status == 501
        rules = []
    groups = c.get('/cluster/ha/groups') or [] if any(r.get('group') for r in ha) else []
    planner = Planner(Settings(**settings), [e for e in resources if e['type'] == 'node'],
                      [e for e in resources if e['type'] in ('qemu', 'lxc')], ha, rules, groups)
    return planner.plan()


def carry_out(sim, report):
    """Move the guests as the plan says (through the model: the planner, not migration, is under test)."""
    cluster = sim.app.cluster
    with cluster.lock:
        for move in report['moves']:
            g = cluster.guests[move['vmid']]
            g.node = move['target']
            if move['tags'] is not None:
                g.config['tags'] = ';'.join(move['tags'])
            g.changed()
        cluster.touch()


def per_node(report):
    return dict((n['node'], n['guests_after']) for n in report['nodes'])


def skewed(sim, count=6, **extra):
    sim.load_scenario({'guests': [vm(100 + i, **extra) for i in range(count)]})


def test_skewed_cluster_is_spread_and_the_second_plan_is_empty(pvesim):
    skewed(pvesim)
    # 6.25% per guest: within 10 points of the mean 12.5% after three moves, within 5 after four
    report = plan(pvesim)
    assert per_node(report) == {'pve1': 3, 'pve2': 2, 'pve3': 1} and report['balanced']
    report = plan(pvesim, threshold=5)
    assert per_node(report) == {'pve1': 2, 'pve2': 2, 'pve3': 2}
    assert report['balanced'] and len(report['moves']) == 4
    assert all(m['source'] == 'pve1' and m['why'].startswith('load ') for m in report['moves'])
    before = dict((n['node'], n['percent_before']) for n in report['nodes'])
    assert before == {'pve1': 37.5, 'pve2': 0.0, 'pve3': 0.0}  # 6 x 4 GiB of 64 GiB
    carry_out(pvesim, report)
    assert plan(pvesim, threshold=5)['moves'] == [] and plan(pvesim)['moves'] == []


def test_used_mode_reads_the_nodes_figures_and_converges(pvesim):
    skewed(pvesim)
    report = plan(pvesim, mode='used')
    # a running pvesim guest uses a quarter of its memory: 6 x 1 GiB over the host's 8 GiB
    assert dict((n['node'], n['percent_before']) for n in report['nodes']) == {'pve1': 21.9, 'pve2': 12.5, 'pve3': 12.5}
    assert report['moves'] == []  # within 10 points of the mean 15.6%
    report = plan(pvesim, mode='used', threshold=1)
    assert per_node(report) == {'pve1': 2, 'pve2': 2, 'pve3': 2}
    carry_out(pvesim, report)
    assert plan(pvesim, mode='used', threshold=1)['moves'] == []


def test_cpu_metric_and_the_threshold(pvesim):
    pvesim.load_scenario({'guests': [vm(100 + i, cores=4) for i in range(4)]})
    # 16 of 16 CPUs on pve1: 100% against a mean of 33%
    assert plan(pvesim, metric='cpu', threshold=70)['moves'] == []
    report = plan(pvesim, metric='cpu', threshold=20)
    assert report['balanced'] and sorted(per_node(report).values()) == [1, 1, 2]


def test_stopped_templates_ignored_and_other_kinds_are_not_moved(pvesim):
    pvesim.load_scenario({'guests': [vm(100), vm(101, status='stopped'), vm(102, tags='rebalance-ignore'),
                                     vm(103, template=True, status='stopped'),
                                     dict(vm(104), type='lxc', config={'memory': 4096, 'rootfs': 'shared:4'})]})
    assert [m['vmid'] for m in plan(pvesim, threshold=1)['moves']] == [100, 104]
    # the ignored guest's load counts: pve1 carries two running guests of which one may move
    report = plan(pvesim, threshold=1, kinds=['qemu'])
    assert [m['vmid'] for m in report['moves']] == [100]


def test_affinity_moves_together_and_anti_affinity_stays_apart(pvesim):
    pvesim.load_scenario({'guests': [vm(100, tags='rebalance-affinity-web'), vm(101, tags='rebalance-affinity-web'),
                                     vm(102, tags='rebalance-anti-affinity-db'), vm(103, tags='rebalance-anti-affinity-db'),
                                     vm(104), vm(105)]})
    report = plan(pvesim, threshold=1)
    targets = dict((m['vmid'], m['target']) for m in report['moves'])
    # the clashing pair is split first (the newer one moves), the affinity pair lands on one node
    assert report['moves'][0]['vmid'] == 103 and report['moves'][0]['why'] == 'anti-affinity rebalance-anti-affinity-db'
    final = dict((v, targets.get(v, 'pve1')) for v in range(100, 106))
    assert final[100] == final[101]
    assert final[102] != final[103]
    carry_out(pvesim, report)
    assert plan(pvesim, threshold=1)['moves'] == []


def test_pins_are_honoured_and_repaired(pvesim):
    pvesim.load_scenario({'guests': [vm(100, tags='rebalance-pin-pve1'), vm(101, tags='rebalance-pin-pve1'),
                                     vm(102, tags='rebalance-pin-pve3', node='pve2'), vm(103), vm(104, tags='rebalance-pin-nowhere')]})
    report = plan(pvesim, threshold=1)
    moves = dict((m['vmid'], m) for m in report['moves'])
    assert moves[102]['target'] == 'pve3' and moves[102]['why'] == 'pinned to pve3'
    assert 100 not in moves and 101 not in moves
    assert "pinned to node 'nowhere'" in report['warnings'][0]


def test_ha_node_affinity_and_negative_resource_affinity(pvesim):
    pvesim.load_scenario({'guests': [vm(100 + i) for i in range(4)]})
    c = client(pvesim)
    for vmid in (100, 101, 102):
        c.post('/cluster/ha/resources', sid='vm:%d' % vmid, state='started')
    c.post('/cluster/ha/rules', rule='stay', type='node-affinity', resources='vm:100', nodes='pve1:2,pve2:1')
    c.post('/cluster/ha/rules', rule='apart', type='resource-affinity', resources='vm:101,vm:102', affinity='negative')
    report = plan(pvesim, threshold=1)
    moves = dict((m['vmid'], m) for m in report['moves'])
    assert 100 not in moves  # pve1 is its highest-priority node
    assert moves[102]['why'] == 'anti-affinity HA rule apart'  # the newer of the pair
    assert all(m['ha'] == (m['vmid'] in (101, 102)) for m in report['moves'])
    # pve1 in maintenance: the rule's next node, not any node
    report = plan(pvesim, maintenance=['pve1'], balance=False)
    assert dict((m['vmid'], m['target']) for m in report['moves'])[100] == 'pve2'


def test_pve8_ha_group_limits_the_nodes(pvesim):
    pvesim.load_scenario({'version': '8.4', 'guests': [vm(100 + i) for i in range(4)]})
    c = client(pvesim)
    c.post('/cluster/ha/groups', group='far', nodes='pve3:2,pve2:1', restricted=1)
    c.post('/cluster/ha/resources', sid='vm:100', state='started', group='far')
    report = plan(pvesim, maintenance=['pve1'], balance=False)
    # the group's highest-priority node, although pve2 is as empty
    assert dict((m['vmid'], m['target']) for m in report['moves'])[100] == 'pve3'
    report = plan(pvesim, maintenance=['pve1'], exclude_nodes=['pve3'], balance=False)
    assert dict((m['vmid'], m['target']) for m in report['moves'])[100] == 'pve2'


def test_maintenance_empties_the_node_and_its_end_brings_the_guests_back(pvesim):
    pvesim.load_scenario({'guests': [vm(100, node='pve2'), vm(101, node='pve2', status='stopped'),
                                     vm(102, node='pve2', tags='web'), vm(103, node='pve1'),
                                     vm(104, node='pve2', template=True, status='stopped')]})
    report = plan(pvesim, maintenance=['pve2'])
    assert sorted(m['vmid'] for m in report['moves']) == [100, 101, 102]
    assert all(m['target'] != 'pve2' and 'rebalance-home-pve2' in m['tags'] for m in report['moves'])
    assert [m['tags'] for m in report['moves'] if m['vmid'] == 102] == [['web', 'rebalance-home-pve2']]
    assert report['unplaced'] == [dict(vmid=104, guest='vm104', kind='qemu', node='pve2', running=False, why='template')]
    assert per_node(report)['pve2'] == 1
    carry_out(pvesim, report)
    assert plan(pvesim, maintenance=['pve2'])['moves'] == []
    back = plan(pvesim, maintenance_end=['pve2'], balance=False)
    assert sorted((m['vmid'], m['target']) for m in back['moves']) == [(100, 'pve2'), (101, 'pve2'), (102, 'pve2')]
    assert [m['tags'] for m in back['moves'] if m['vmid'] == 102] == [['web']]
    carry_out(pvesim, back)
    assert plan(pvesim, maintenance_end=['pve2'], balance=False)['moves'] == []


@pytest.mark.parametrize('settings, param, text', [
    (dict(threshold=120), 'threshold', 'give 0 to 100'),
    (dict(maintenance=['pve9']), 'maintenance', "node 'pve9' is not in the cluster"),
    (dict(exclude_nodes=['nope']), 'exclude_nodes', "node 'nope'"),
    (dict(maintenance=['pve1'], maintenance_end=['pve1']), 'maintenance_end', 'not both'),
    (dict(maintenance=['pve1', 'pve2', 'pve3']), 'maintenance', 'no online node is left'),
    (dict(parallel=0), 'parallel', '1 or more'),
    (dict(tag_prefix='-x'), 'tag_prefix', 'cannot start a PVE tag'),
])
def test_bad_input_names_the_parameter(pvesim, settings, param, text):
    skewed(pvesim, count=1)
    with pytest.raises(PlanInputError) as err:
        plan(pvesim, **settings)
    assert err.value.param == param and text in err.value.message


def test_waves_bound_parallel_and_per_node():
    moves = [dict(source='a', target='b'), dict(source='a', target='c'), dict(source='d', target='e'),
             dict(source='d', target='f')]
    assert waves(moves, 2, 1) == [[0, 2], [1, 3]]
    assert waves(moves, 4, 2) == [[0, 1, 2, 3]]
    assert waves(moves, 1, 5) == [[0], [1], [2], [3]]
    assert collections.Counter(len(w) for w in waves(moves * 3, 3, 2)) == collections.Counter({3: 4})
    # an affinity group goes in one wave, or, larger than the bounds, over consecutive waves
    grouped = [dict(source='a', target='b'), dict(source='a', target='c', group=7), dict(source='a', target='c', group=7)]
    assert waves(grouped, 2, 2) == [[0], [1, 2]]
    assert waves(grouped, 3, 3) == [[0, 1, 2]]
    assert waves(grouped, 2, 1) == [[0], [1], [2]]


def test_a_split_affinity_group_is_gathered_first(pvesim):
    # a wave moved one member of the group: the next plan brings the other one after it
    pvesim.load_scenario({'guests': [vm(100, tags='rebalance-affinity-app', node='pve3'),
                                     vm(101, tags='rebalance-affinity-app'), vm(102), vm(103)]})
    report = plan(pvesim)
    assert report['moves'][0] == dict(vmid=101, guest='vm101', kind='qemu', source='pve1', target='pve3',
                                      why='affinity rebalance-affinity-app', running=True, ha=False, tags=None,
                                      group=100)
