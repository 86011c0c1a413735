# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark (not a test) of the pve.cloud.fleet role against pvesim.

For each size (default 60 and 300 guests on three nodes: two thirds VMs, linked clones of one golden image, and
one third containers from the Debian template): the first run, the no-op rerun (which must report changed=0 and
send no write) and, for sizes up to 100, a scale-down by a quarter of each group. Prints wall time, writes, reads,
cluster-wide reads (/cluster/resources, /nodes) and the other reads per guest, by kind of call.

    bash benchmarks/fleet_scale.sh [--sizes 60,300] [--parallel 8] [--latency-ms 0]   (make bench runs it)

or, with ANSIBLE_COLLECTIONS_PATH set to a directory holding ansible_collections/pve/cloud,
python benchmarks/fleet_scale.py with the same options. Needs pvesim and ansible-core on PATH.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

CLUSTER_WIDE = re.compile(r'^/(cluster/resources|nodes)$')

PLAYBOOK = '''---
- name: Fleet at scale
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Golden image
      pve.cloud.qemu:
        name: bench-image
        node: pve1
        memory: 512
        agent: true
        tags: [golden, golden-bench]
        disks:
          scsi0: {storage: shared, import_from: "local:import/debian-13-genericcloud-amd64.qcow2"}
        cloudinit_drive: shared
        networks:
          net0: {bridge: vmbr0}
        state: template

    - name: The fleet
      ansible.builtin.include_role:
        name: pve.cloud.fleet
      vars:
        fleet_name: bench
        fleet_parallel: "{{ parallel | int }}"
        fleet_parallel_per_source: "{{ parallel | int }}"
        fleet_defaults: {image: bench, full: false}
        fleet_groups:
          - name: vm
            count: "{{ (count | int * 2 / 3) | round(0, 'ceil') | int }}"
            memory: 512
            cores: 1
          - name: ct
            kind: container
            count: "{{ count | int - (count | int * 2 / 3) | round(0, 'ceil') | int }}"
            memory: 256
            ostemplate: local:vztmpl/debian-13-standard_13.1-1_amd64.tar.zst
            rootfs: {storage: local-lvm, size: 2G}
            networks:
              net0: {name: eth0, bridge: vmbr0, ip: dhcp}
'''


def admin(conn, method, path, body=None):
    context = ssl.create_default_context(cafile=conn['ca_path'])
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(conn['url'] + path, data=data, method=method,
                                     headers={'Content-Type': 'application/json'})
    with urllib.request.urlopen(request, context=context) as answer:  # noqa: S310 - our own simulator
        return json.load(answer)['data']


def run(conn, workdir, count, parallel, label):
    env = dict(os.environ, PROXMOX_HOST=conn['host'], PROXMOX_PORT=str(conn['port']), PROXMOX_CA_PATH=conn['ca_path'],
               PROXMOX_TOKEN_ID=conn['token_id'], PROXMOX_TOKEN_SECRET=conn['token_secret'], ANSIBLE_NOCOLOR='1')
    admin(conn, 'POST', '/_pvesim/requests/reset')
    started = time.monotonic()
    proc = subprocess.run(['ansible-playbook', '-i', 'localhost,', '-e', 'count=%d parallel=%d' % (count, parallel),
                           '-e', 'ansible_python_interpreter=%s' % sys.executable, os.path.join(workdir, 'fleet.yml')],
                          env=env, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    if proc.returncode:
        sys.exit('%s failed:\n%s' % (label, proc.stdout[-4000:]))
    recap = re.search(r'localhost\s+: ok=\d+\s+changed=(\d+)', proc.stdout)
    requests = [r for r in admin(conn, 'GET', '/_pvesim/requests?since=0') if not r['path'].startswith('/_pvesim')]
    reads = [r for r in requests if r['method'] == 'GET']
    wide = [r for r in reads if CLUSTER_WIDE.match(r['path'])]
    kinds = {}
    for r in reads:
        kind = r['path'] if CLUSTER_WIDE.match(r['path']) else re.sub(r'^/nodes/[^/]+/(qemu|lxc)/\d+', '', r['path']) or 'guest'
        kind = 'task status' if '/tasks/' in kind else kind
        kinds[kind] = kinds.get(kind, 0) + 1
    return dict(label=label, guests=count, wall=wall, changed=int(recap.group(1)) if recap else None,
                writes=len(requests) - len(reads), reads=len(reads), wide=len(wide),
                per_guest=(len(reads) - len(wide)) / float(count or 1), kinds=kinds)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sizes', default='60,300')
    parser.add_argument('--parallel', type=int, default=8)
    parser.add_argument('--latency-ms', type=int, default=0)
    args = parser.parse_args()
    print('pve.cloud.fleet on pvesim (3 nodes, 2/3 VMs as linked clones of one template, 1/3 containers, parallel %d, '
          '%d ms latency)' % (args.parallel, args.latency_ms))
    header = ('run', 'guests', 'wall s', 'changed', 'writes', 'reads', 'cluster-wide', 'other reads/guest')
    print('%-18s %6s %8s %7s %6s %6s %12s %17s' % header, flush=True)
    for size in [int(s) for s in args.sizes.split(',')]:
        workdir = tempfile.mkdtemp(prefix='pve-cloud-fleet-bench-')
        state = os.path.join(workdir, 'pvesim')
        subprocess.run(['pvesim', 'serve', '--port', '0', '--state-dir', state, '--nodes', '3', '--time-scale', '0',
                        '--detach'], check=True, stdout=subprocess.DEVNULL)
        try:
            with open(os.path.join(state, 'connection.json')) as fh:
                conn = json.load(fh)
            if args.latency_ms:
                admin(conn, 'POST', '/_pvesim/faults', dict(path='.', kind='latency', ms=args.latency_ms, count=None))
            with open(os.path.join(workdir, 'fleet.yml'), 'w') as fh:
                fh.write(PLAYBOOK)
            runs = [(size, 'first run'), (size, 'no-op rerun')]
            if size <= 100:
                runs.append((size * 3 // 4, 'scale-down to %d' % (size * 3 // 4)))
            for count, label in runs:
                report(run(conn, workdir, count, args.parallel, label))
        finally:
            subprocess.run(['pvesim', 'stop', '--state-dir', state], check=False, stdout=subprocess.DEVNULL)
            shutil.rmtree(workdir, ignore_errors=True)


def report(r):
    """One line per run, printed as soon as the run is over (a 300-guest run takes a while)."""
    print('%-18s %6d %8.1f %7s %6d %6d %12d %17.2f' % (
        r['label'], r['guests'], r['wall'], r['changed'], r['writes'], r['reads'], r['wide'], r['per_guest']))
    print('    reads by kind: %s' % ', '.join('%s %d' % kv for kv in sorted(r['kinds'].items())), flush=True)


if __name__ == '__main__':
    main()
