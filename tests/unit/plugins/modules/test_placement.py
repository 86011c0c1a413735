# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet planner against pvesim's /cluster/resources: placement, ownership, scale-down, waves."""

from __future__ import annotations

import collections

import pytest

from ansible_collections.pve.cloud.plugins.module_utils.api import PVEClient
from ansible_collections.pve.cloud.plugins.modules.placement import PlanError, Planner, check_groups

GiB = 1024 ** 3
TEMPLATE = {'type': 'qemu', 'vmid': 9000, 'node': 'pve1', 'name': 'tmpl', 'template': 1,
            'config': {'memory': 2048, 'cores': 2, 'scsi0': 'shared:8'}}


def params(**overrides):
    p = dict(fleet='demo', tag=None, state='present', prune=False, strategy='spread', exclude_nodes=[],
             memory_ratio=1.0, parallel=4, parallel_per_source=2, index_width=2)
    p.update(overrides)
    return p


def plan(sim, groups, defaults=None, token=None, **overrides):
    token_id, secret = token or (sim.token_id, sim.token_secret)
    client = PVEClient(api_host=sim.host, api_port=sim.port, ca_path=sim.ca_path, api_token_id=token_id,
                       api_token_secret=secret)
    planner = Planner(params(**overrides), client.get('/nodes'), client.get('/cluster/resources', type='vm'),
                      lambda e: client.get('/nodes/%s/%s/%s/config' % (e['node'], e['type'], e['vmid'])))
    planner.plan(check_groups(groups, defaults or {}))
    return planner.report()


def per_node(report, action='create'):
    return dict(collections.Counter(g['node'] for g in report['guests'] if g['action'] == action))


def guest(vmid, name, node='pve1', tags='fleet-demo', memory=2048, **extra):
    return dict({'type': 'qemu', 'vmid': vmid, 'node': node, 'name': name, 'status': 'running',
                 'config': {'memory': memory, 'tags': tags, 'scsi0': 'local-lvm:4'}}, **extra)


def test_spread_puts_nine_guests_three_per_node(pvesim):
    pvesim.load_scenario({'guests': [TEMPLATE]})
    report = plan(pvesim, [{'name': 'web', 'count': 9, 'clone': 'tmpl'}])
    assert per_node(report) == {'pve1': 3, 'pve2': 3, 'pve3': 3}
    assert [g['name'] for g in report['guests']] == ['web-%02d' % i for i in range(1, 10)]
    assert all(g['source'] == 9000 and g['args']['clone'] == '9000' for g in report['guests'])
    assert report['guests'][0]['memory_mib'] == 2048  # from the template


def test_pack_fills_one_node_and_anti_affinity_still_spreads(pvesim):
    pvesim.load_scenario({'guests': [TEMPLATE]})
    report = plan(pvesim, [{'name': 'web', 'count': 9, 'clone': 'tmpl'}], strategy='pack')
    assert per_node(report) == {'pve1': 9}
    report = plan(pvesim, [{'name': 'db', 'count': 3, 'clone': 'tmpl', 'anti_affinity': True},
                           {'name': 'web', 'count': 2, 'clone': 'tmpl'}], strategy='pack')
    assert sorted(g['node'] for g in report['guests'] if g['group'] == 'db') == ['pve1', 'pve2', 'pve3']
    # packing continues on the fullest node once the anti-affine group is placed
    assert [g['node'] for g in report['guests'] if g['group'] == 'web'] == ['pve1', 'pve1']


def test_existing_guests_and_earlier_placements_count(pvesim):
    big = [guest(100 + i, 'other-%d' % i, node='pve1', tags='', memory=16384) for i in range(3)]
    pvesim.load_scenario({'guests': [TEMPLATE] + big})
    report = plan(pvesim, [{'name': 'web', 'count': 4, 'clone': 'tmpl', 'memory': 8192}])
    # pve1 has 48 GiB committed by guests of others: the first four go to the emptier nodes
    assert per_node(report) == {'pve2': 2, 'pve3': 2}
    nodes = dict((n['node'], n) for n in report['nodes'])
    assert nodes['pve1']['committed_mib'] == 3 * 16384
    assert nodes['pve2']['planned_mib'] - nodes['pve2']['committed_mib'] == 2 * 8192


def test_offline_and_excluded_nodes_are_skipped_and_full_nodes_fail(pvesim):
    pvesim.load_scenario({'nodes': [{'name': 'pve1'}, {'name': 'pve2', 'status': 'offline'},
                                    {'name': 'pve3', 'maxmem': 4 * GiB}], 'guests': [TEMPLATE]})
    report = plan(pvesim, [{'name': 'web', 'count': 2, 'clone': 'tmpl', 'memory': 3072}], exclude_nodes=['pve1'])
    assert per_node(report) == {'pve3': 1}
    assert [f['guest'] for f in report['failures']] == ['web-02']
    assert 'no online node has 3072 MiB' in report['failures'][0]['message']
    report = plan(pvesim, [{'name': 'db', 'node': 'pve2', 'clone': 'tmpl'}])
    assert report['guests'] == [] and "node 'pve2' is offline" in report['failures'][0]['message']


def test_ownership_prune_and_scale_down(pvesim):
    pvesim.load_scenario({'guests': [
        TEMPLATE,
        guest(101, 'web-01'), guest(102, 'web-02', node='pve2'), guest(103, 'web-03'), guest(104, 'web-04'),
        guest(110, 'old-api'),                                   # ours, no longer declared
        guest(120, 'db', tags='prod'),                           # declared name, not ours
        guest(121, 'web-05', tags='prod'), guest(122, 'stranger', tags='')]})  # not ours at all
    groups = [{'name': 'web', 'count': 2, 'clone': 'tmpl'}, {'name': 'db', 'clone': 'tmpl'}]
    report = plan(pvesim, groups)
    assert [(r['name'], r['reason']) for r in report['remove']] == [('web-04', 'scale_down'), ('web-03', 'scale_down')]
    assert [u['name'] for u in report['undeclared']] == ['old-api']
    expected = [('web-01', 'converge', 101), ('web-02', 'converge', 102)]
    assert [(g['name'], g['action'], g['vmid']) for g in report['guests']] == expected
    assert report['failures'][0]['guest'] == 'db' and 'without the fleet tag fleet-demo' in report['failures'][0]['message']
    pruned = plan(pvesim, groups, prune=True)
    assert sorted(r['vmid'] for r in pruned['remove']) == [103, 104, 110]
    gone = plan(pvesim, groups, state='absent')
    assert sorted(r['vmid'] for r in gone['remove']) == [101, 102, 103, 104, 110]
    # guests without the tag are never planned for removal, whatever the mode
    for report in (pruned, gone):
        assert not set(r['vmid'] for r in report['remove']) & {120, 121, 122, 9000}


def test_args_tags_placeholders_and_waves(pvesim):
    pvesim.load_scenario({'guests': [TEMPLATE, guest(101, 'web-01')]})
    report = plan(pvesim, [{'name': 'web', 'count': 5, 'clone': 'tmpl', 'tags': ['web'], 'cores': 1,
                            'ipconfig': {'ipconfig0': 'ip=10.0.0.{index}/24'}, 'description': '{name} of demo'}],
                  parallel=3, parallel_per_source=1)
    first, second = report['guests'][:2]
    assert first['args'] == {'name': 'web-01', 'node': 'pve1', 'vmid': 101, 'state': 'started', 'cores': 1,
                             'tags': ['fleet-demo', 'web'], 'ipconfig': {'ipconfig0': 'ip=10.0.0.1/24'},
                             'description': 'web-01 of demo'}
    assert second['args']['clone'] == '9000' and 'vmid' not in second['args']
    # the update rides along; clones of one template go one per wave
    assert report['waves'] == [[0, 1], [2], [3], [4]]
    assert report['summary'] == {'create': 4, 'converge': 1, 'remove': 0, 'undeclared': 0, 'failed': 0}


def test_image_is_the_newest_golden_version(pvesim):
    def version(vmid, name, ctime):
        config = dict(TEMPLATE['config'], tags='golden-deb', meta='creation-qemu=9.2.0,ctime=%d' % ctime)
        return dict(TEMPLATE, vmid=vmid, name=name, config=config)

    # the newer version has the lower VMID: creation time decides, not the VMID
    pvesim.load_scenario({'guests': [version(9001, 'deb-a', 1700000200), version(9002, 'deb-b', 1700000100)]})
    report = plan(pvesim, [{'name': 'web', 'count': 1}], defaults={'image': 'deb'})
    assert report['guests'][0]['source'] == 9001
    report = plan(pvesim, [{'name': 'web', 'count': 1, 'image': 'nope'}])
    assert "golden image 'nope' does not exist" in report['failures'][0]['message']


def test_container_image_is_the_newest_container_version(pvesim):
    def version(vmid, name, built):
        return {'type': 'lxc', 'vmid': vmid, 'node': 'pve1', 'name': name, 'template': 1,
                'config': {'hostname': name, 'memory': 256, 'rootfs': 'shared:2', 'tags': 'golden;golden-deb',
                           'description': 'pve.cloud golden image deb version x, built %s' % built}}

    # containers have no meta: the build time in the description decides, not the VMID; the VM version is newer
    # still but is no container
    vm = dict(TEMPLATE, vmid=9003, name='deb-vm',
              config=dict(TEMPLATE['config'], tags='golden-deb', meta='creation-qemu=9.2.0,ctime=1900000000'))
    pvesim.load_scenario({'guests': [version(8001, 'deb-b', '2026-12-02T10:00:00Z'), vm,
                                     version(8002, 'deb-a', '2026-12-01T10:00:00Z')]})
    report = plan(pvesim, [{'name': 'ct', 'kind': 'container', 'count': 1, 'image': 'deb'}, {'name': 'vm', 'image': 'deb'}])
    assert [(g['name'], g['module'], g['source']) for g in report['guests']] == [
        ('ct-01', 'pve.cloud.lxc', 8001), ('vm', 'pve.cloud.qemu', 9003)]
    assert report['guests'][0]['args']['clone'] == '8001'
    report = plan(pvesim, [{'name': 'ct', 'kind': 'container', 'image': 'nope'}])
    assert "no container template carries the tag golden-nope" in report['failures'][0]['message']


@pytest.mark.parametrize('groups, message', [
    ([{'count': 2}], 'groups[0]: every group needs a name'),
    ([{'name': 'web_1'}], "name 'web_1' is not a DNS name"),
    ([{'name': 'a'}, {'name': 'a'}], "group 'a' is declared twice"),
    ([{'name': 'a', 'kind': 'pod'}], "kind 'pod' is unknown: use vm or container"),
    ([{'name': 'a', 'kind': 'container', 'disks': {}}], "unknown key 'disks' for kind container"),
    ([{'name': 'a', 'count': -1}], 'count must be a whole number'),
    ([{'name': 'a', 'count': 'two'}], "count must be a whole number of 0 or more, not 'two'"),
    ([{'name': 'a', 'count': True}], 'count must be a whole number'),
    ([{'name': 'a', 'image': 'x', 'clone': 'y'}], 'set image or clone, not both'),
    ([{'name': 'a', 'cipassword': 'x'}], 'cipassword is a secret'),
    ([{'name': 'a', 'cpus': 2}], "unknown key 'cpus' for kind vm: a group has agent, anti_affinity, "),
    ([{'name': 'a', 'state': 'absent'}], "state 'absent' is not a fleet state"),
])
def test_bad_groups_fail_before_any_call(groups, message):
    with pytest.raises(PlanError, match=message.replace('[', r'\[').replace(']', r'\]')):
        check_groups(groups, {})


def test_a_templated_count_string_is_a_count():
    # ansible-core 2.16 renders "{{ n | int }}" inside a structure as '2'
    assert check_groups([{'name': 'web', 'count': '2'}], {})[0]['count'] == 2


def test_nodes_without_memory_figures_are_placed_by_committed_memory(pvesim):
    secret = '5e0d8c52-6a4f-4a39-9d0b-1f2a3b4c5d6e'
    pvesim.load_scenario({'guests': [TEMPLATE, guest(100, 'other', node='pve1', tags='', memory=8192)],
                          'users': [{'userid': 'ops@pve', 'tokens': [{'id': 'ci', 'secret': secret, 'privsep': 1}]}],
                          'acls': [{'path': '/vms', 'roles': ['PVEVMAdmin'], 'tokens': ['ops@pve!ci'], 'propagate': 1},
                                   {'path': '/vms', 'roles': ['PVEVMAdmin'], 'users': ['ops@pve'], 'propagate': 1}]})
    # without Sys.Audit, PVE lists the nodes with their status only: pve1's 8 GiB of guests count against it
    report = plan(pvesim, [{'name': 'web', 'count': 6, 'clone': 'tmpl', 'memory': 1024}], token=('ops@pve!ci', secret))
    assert per_node(report) == {'pve2': 3, 'pve3': 3}
    assert [n['capacity_mib'] for n in report['nodes']] == [None, None, None]


def test_containers_are_planned_with_hostname_and_a_container_source(pvesim):
    ct_template = {'type': 'lxc', 'vmid': 8000, 'node': 'pve1', 'name': 'tmpl', 'template': 1,
                   'config': {'memory': 256, 'rootfs': 'shared:2', 'hostname': 'tmpl'}}
    # a VM and a container template share the name: a container group clones the container
    pvesim.load_scenario({'guests': [TEMPLATE, ct_template]})
    # defaults reach the groups whose kind has the key: ciuser and image only the VM group
    report = plan(pvesim, [{'name': 'cache', 'kind': 'container', 'count': 3, 'clone': 'tmpl', 'swap': 0},
                           {'name': 'app', 'kind': 'container', 'ostemplate': 'local:vztmpl/x.tar.zst', 'memory': 1024},
                           {'name': 'vm'}, {'name': 'vm2', 'clone': 'tmpl'}],
                  defaults={'ciuser': 'debian', 'image': 'none', 'swap': 512, 'onboot': True})
    cache = [g for g in report['guests'] if g['group'] == 'cache']
    assert [(g['module'], g['source'], g['memory_mib']) for g in cache] == [('pve.cloud.lxc', 8000, 256)] * 3
    assert cache[0]['args'] == {'hostname': 'cache-01', 'node': cache[0]['node'], 'state': 'started', 'swap': 0,
                                'onboot': True, 'clone': '8000', 'tags': ['fleet-demo']}
    assert sorted(g['node'] for g in cache) == ['pve1', 'pve2', 'pve3']
    assert report['guests'][3]['args']['ostemplate'] == 'local:vztmpl/x.tar.zst'
    assert report['guests'][3]['args']['swap'] == 512 and report['guests'][3]['args']['onboot'] is True
    assert "golden image 'none' does not exist" in report['failures'][0]['message']
    assert report['guests'][-1]['args']['ciuser'] == 'debian' and report['guests'][-1]['source'] == 9000
