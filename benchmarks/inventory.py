# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark (not a test) of the pve.cloud.proxmox inventory against pvesim.

pvesim with 2,000 guests on 3 nodes and 5 ms of latency on every API request; `ansible-inventory --list`
for: no per-guest facts, want_config, want_config + want_addresses. Prints wall time, API calls and hosts.
Target: config + addresses under 10 s.

    bash benchmarks/inventory.sh [--guests 2000] [--latency-ms 5] [--concurrency 8]   (make bench runs it)

or, with ANSIBLE_COLLECTIONS_PATH set to a directory holding ansible_collections/pve/cloud,
python benchmarks/inventory.py with the same options.

Needs pvesim and ansible-core on PATH (for example the venv of .ci/env.sh setup_venv).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

MODES = (
    ('no per-guest facts', {}),
    ('want_config', {'want_config': True}),
    ('want_config + want_addresses', {'want_config': True, 'want_addresses': True}),
)


def admin(conn, method, path, body=None):
    context = ssl.create_default_context(cafile=conn['ca_path'])
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(conn['url'] + path, data=data, method=method,
                                     headers={'Content-Type': 'application/json'})
    with urllib.request.urlopen(request, context=context) as answer:  # noqa: S310 - our own simulator
        return json.load(answer)['data']


def start_pvesim(state_dir, guests, nodes):
    subprocess.run(['pvesim', 'serve', '--port', '0', '--state-dir', state_dir, '--nodes', str(nodes),
                    '--guests', str(guests), '--time-scale', '0', '--detach'], check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(state_dir, 'connection.json')) as fh:
        return json.load(fh)


def run_inventory(conn, workdir, name, options, concurrency):
    path = os.path.join(workdir, '%s.proxmox.yml' % name)
    with open(path, 'w') as fh:
        json.dump(dict(plugin='pve.cloud.proxmox', concurrency=concurrency, **options), fh)
    env = dict(os.environ, PROXMOX_HOST=conn['host'], PROXMOX_PORT=str(conn['port']), PROXMOX_CA_PATH=conn['ca_path'],
               PROXMOX_TOKEN_ID=conn['token_id'], PROXMOX_TOKEN_SECRET=conn['token_secret'],
               ANSIBLE_INVENTORY_ENABLED='pve.cloud.proxmox', ANSIBLE_INVENTORY_UNPARSED_FAILED='1')
    before = admin(conn, 'GET', '/_pvesim/counters')
    started = time.monotonic()
    proc = subprocess.run(['ansible-inventory', '-i', path, '--list'], env=env, capture_output=True, text=True,
                          check=False)
    wall = time.monotonic() - started
    after = admin(conn, 'GET', '/_pvesim/counters')
    if proc.returncode != 0:
        sys.exit('ansible-inventory failed:\n%s' % proc.stderr)
    hostvars = json.loads(proc.stdout)['_meta']['hostvars']
    with_host = sum(1 for h in hostvars.values() if 'ansible_host' in h)
    calls = (after['reads'] - before['reads']) + (after['writes'] - before['writes']) + \
        (after['logins'] - before['logins'])
    return wall, calls, len(hostvars), with_host


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', 1)[0])
    parser.add_argument('--guests', type=int, default=2000)
    parser.add_argument('--nodes', type=int, default=3)
    parser.add_argument('--latency-ms', type=float, default=5)
    parser.add_argument('--concurrency', type=int, default=8)
    args = parser.parse_args()
    for tool in ('pvesim', 'ansible-inventory'):
        if not shutil.which(tool):
            sys.exit('%s is not on PATH' % tool)

    state_dir = tempfile.mkdtemp(prefix='pvesim-bench-')
    try:
        conn = start_pvesim(state_dir, args.guests, args.nodes)
        resources = admin(conn, 'GET', '/_pvesim/state')
        guests = resources.get('guests') or {}
        admin(conn, 'POST', '/_pvesim/faults', {'path': '.*', 'kind': 'latency', 'ms': args.latency_ms, 'count': None})
        print('pvesim: %d guests on %d nodes, %s ms latency per request; concurrency %d'
              % (len(guests) or args.guests, args.nodes, args.latency_ms, args.concurrency))
        print('%-30s %9s %9s %7s %13s' % ('mode', 'wall (s)', 'API calls', 'hosts', 'ansible_host'))
        for name, options in MODES:
            wall, calls, hosts, with_host = run_inventory(conn, state_dir, name.replace(' ', '_').replace('+', 'and'),
                                                          options, args.concurrency)
            print('%-30s %9.2f %9d %7d %13d' % (name, wall, calls, hosts, with_host))
    finally:
        subprocess.run(['pvesim', 'stop', '--state-dir', state_dir], check=False, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        shutil.rmtree(state_dir, ignore_errors=True)


if __name__ == '__main__':
    main()
