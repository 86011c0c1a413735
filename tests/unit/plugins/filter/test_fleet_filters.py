# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet and golden_image roles' filters: results to inventory entries and failures, tables, versions."""

from __future__ import annotations

from ansible_collections.pve.cloud.plugins.filter.fleet import cluster_summary, fleet_results, removal_failures, table
from ansible_collections.pve.cloud.plugins.filter.golden_image import appliance_version, golden_old_versions, linked_to

PLAN = {'tag': 'fleet-shop', 'failures': [{'guest': 'db', 'node': None, 'step': 'plan', 'message': 'not ours'}]}


def planned(name, **args):
    return {'name': name, 'group': 'web-tier', 'kind': 'vm', 'node': 'pve1',
            'args': dict({'name': name, 'tags': ['fleet-shop', 'web']}, **args)}


def job(guest, **result):
    return dict({'finished': 1, 'fleet_job': {'fleet_guest': guest}}, **result)


def test_results_become_hosts_and_failures_keep_pve_message():
    results = [
        job(planned('web-01', ipconfig={'ipconfig0': 'ip=10.0.0.1/24,gw=10.0.0.254'}), vmid=101, node='pve2',
            status='running', changed=True, ip_addresses=[]),
        job(planned('web-02'), vmid=102, node='pve1', status='running', ip_addresses=['10.0.0.77']),
        job(planned('web-03'), msg='clone failed', actions=[{'action': 'clone'}],
            failure={'pve_message': "storage 'x' does not exist\n"}),
        job(planned('web-04'), finished=0),
    ]
    report = fleet_results(results, PLAN, 'shop')
    first, second = report['guests']
    assert (first['name'], first['node'], first['address'], first['changed']) == ('web-01', 'pve2', '10.0.0.1', True)
    assert first['groups'] == ['shop', 'web_tier', 'proxmox_tag_web'] and first['tags'] == ['web']
    assert second['address'] == '10.0.0.77'
    assert report['failures'] == [
        PLAN['failures'][0],
        {'guest': 'web-03', 'node': 'pve1', 'step': 'clone', 'message': "storage 'x' does not exist"},
        {'guest': 'web-04', 'node': 'pve1', 'step': 'timeout', 'message': 'no answer from the job (timed out)'}]
    container = dict(planned('ct-01'), kind='container',
                     args={'hostname': 'ct-01', 'networks': {'net0': {'bridge': 'vmbr0', 'ip': '10.0.1.5/24'}}})
    assert fleet_results([job(container, vmid=200)], PLAN, 'shop')['guests'][0]['address'] == '10.0.1.5'
    removal = {'name': 'old', 'node': 'pve3'}
    assert removal_failures([{'finished': 1, 'msg': 'locked', 'fleet_job': {'fleet_removal': removal}},
                             {'finished': 1, 'fleet_job': {'fleet_removal': removal}}]) == [
        {'guest': 'old', 'node': 'pve3', 'step': 'lookup', 'message': 'locked'}]


def test_table_aligns_columns():
    assert table([{'a': 'x', 'b': None}, {'a': 'longer', 'b': [1, 2]}], ['a', 'b']) == [
        'a       b', '------  ----', 'x       -', 'longer  1, 2']


def test_summary_lists_golden_images_then_fleet_guests():
    vms = [{'vmid': 101, 'name': 'web-01', 'node': 'pve2', 'status': 'running', 'template': False,
            'tags': ['fleet-shop']},
           {'vmid': 102, 'name': 'other', 'node': 'pve2', 'status': 'running', 'template': False, 'tags': ['x']},
           {'vmid': 9000, 'name': 'deb-1', 'node': 'pve1', 'status': 'stopped', 'template': True,
            'tags': ['golden', 'golden-deb']}]
    rows = cluster_summary(vms, ['fleet-shop'], {'web-01': {'ansible_host': '10.0.0.1'}})
    assert [(r['name'], r['what'], r['status'], r['address']) for r in rows] == [
        ('deb-1', 'golden image', 'template', None), ('web-01', 'fleet shop', 'running', '10.0.0.1')]


def test_old_versions_by_creation_time_and_linked_guests():
    def version(vmid, ctime):
        return {'vmid': vmid, 'config': {'meta': 'creation-qemu=9.2.0,ctime=%d' % ctime}}
    versions = [version(100, 30), version(101, 10), version(102, 20), version(103, 5)]
    # 100 is the current one and always stays; keep 2 leaves the newest other (102)
    assert [v['vmid'] for v in golden_old_versions(versions, 100, 2)] == [101, 103]
    guests = [{'vmid': 200, 'name': 'app', 'config': {'scsi0': 'shared:101/base-101-disk-0.qcow2/200/vm-200-disk-0.qcow2'}},
              {'vmid': 201, 'name': 'db', 'config': {'scsi0': 'local-lvm:vm-201-disk-0'}}]
    assert linked_to(guests, 101) == ['app'] and linked_to(guests, 103) == []


def test_container_versions_by_build_time_and_linked_containers():
    def version(vmid, built):
        return {'vmid': vmid, 'config': {'description': 'pve.cloud golden image ct version x from local:vztmpl/x, '
                                                        'built %s' % built}}
    # PVE reuses free VMIDs: 100 was built last although its VMID is the lowest
    versions = [version(100, '2026-12-02T10:00:02Z'), version(101, '2026-12-02T10:00:01Z'),
                version(102, '2026-12-01T23:59:59Z'), {'vmid': 103, 'config': {'description': 'by hand'}}]
    assert [v['vmid'] for v in golden_old_versions(versions, 105, 2)] == [101, 102, 103]
    containers = [{'vmid': 200, 'name': 'cache', 'config': {'rootfs': 'local-lvm:base-101-disk-0/vm-200-disk-0,size=8G'}},
                  {'vmid': 201, 'name': 'other', 'config': {'rootfs': 'local-lvm:vm-201-disk-0,size=8G'}}]
    assert linked_to(containers, 101) == ['cache'] and linked_to(containers, 100) == []


def test_appliance_version():
    assert appliance_version('local:vztmpl/debian-13-standard_13.2-1_amd64.tar.zst') == '13.2-1'
    assert appliance_version('alpine-3.22-default_20250617_amd64.tar.xz') == '20250617'
    assert appliance_version('local:vztmpl/my-own.tar.gz') == ''
