# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark (not a test) of the API calls of pve.cloud.qemu and pve.cloud.lxc against pvesim.

For each module: a create (qemu from scratch, lxc from a template volume id) and a no-op `present`
of the same task; prints the API calls (task polls apart), the writes and the wall time of each, as
counted in pvesim's request log. The budgets themselves are asserted by the integration targets.

    bash benchmarks/guest_calls.sh

or, with ANSIBLE_COLLECTIONS_PATH set to a directory holding ansible_collections/pve/cloud,
python benchmarks/guest_calls.py. Needs pvesim and ansible-core on PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

CASES = (
    ('qemu', 'create', {'name': 'bench-vm', 'node': 'pve1', 'memory': 512, 'cores': 1,
                        'disks': {'scsi0': {'storage': 'local-lvm', 'size': '1G'}},
                        'networks': {'net0': {'bridge': 'vmbr0'}}}),
    ('lxc', 'create', {'hostname': 'bench-ct', 'node': 'pve1', 'memory': 512, 'cores': 1,
                       'ostemplate': 'local:vztmpl/debian-13-standard_13.1-1_amd64.tar.zst',
                       'rootfs': {'storage': 'local-lvm', 'size': '1G'},
                       'networks': {'net0': {'bridge': 'vmbr0', 'ip': 'dhcp'}}}),
)


def admin(conn, path):
    context = ssl.create_default_context(cafile=conn['ca_path'])
    with urllib.request.urlopen(conn['url'] + path, context=context) as answer:  # noqa: S310 - our own simulator
        return json.load(answer)['data']


def run_task(conn, workdir, module, options):
    playbook = os.path.join(workdir, 'play.yml')
    with open(playbook, 'w') as fh:
        json.dump([{'hosts': 'localhost', 'connection': 'local', 'gather_facts': False,
                    'tasks': [{'pve.cloud.%s' % module: options}]}], fh)
    env = dict(os.environ, ANSIBLE_PYTHON_INTERPRETER=sys.executable, PROXMOX_HOST=conn['host'],
               PROXMOX_PORT=str(conn['port']), PROXMOX_CA_PATH=conn['ca_path'], PROXMOX_TOKEN_ID=conn['token_id'],
               PROXMOX_TOKEN_SECRET=conn['token_secret'])
    since = admin(conn, '/_pvesim/counters')['seq']
    started = time.monotonic()
    done = subprocess.run(['ansible-playbook', '-i', 'localhost,', playbook], check=False, env=env, capture_output=True,
                          text=True)
    if done.returncode:
        raise SystemExit(done.stdout[-2000:])
    wall = time.monotonic() - started
    calls = [r for r in admin(conn, '/_pvesim/requests?since=%d' % since) if not r['path'].startswith('/_pvesim')]
    polls = [r for r in calls if '/tasks/' in r['path']]
    writes = [r for r in calls if r['method'] != 'GET']
    return len(calls) - len(polls), len(polls), len(writes), wall


def main():
    state_dir = tempfile.mkdtemp(prefix='pvesim-bench-guest-')
    workdir = tempfile.mkdtemp(prefix='bench-guest-')
    subprocess.run(['pvesim', 'serve', '--port', '0', '--state-dir', state_dir, '--time-scale', '0', '--detach'],
                   check=True, stdout=subprocess.DEVNULL)
    try:
        with open(os.path.join(state_dir, 'connection.json')) as fh:
            conn = json.load(fh)
        print('%-6s %-16s %6s %6s %7s %8s' % ('module', 'task', 'calls', 'polls', 'writes', 'seconds'))
        for module, what, options in CASES:
            for label in (what, 'no-op present'):
                calls, polls, writes, wall = run_task(conn, workdir, module, options)
                print('%-6s %-16s %6d %6d %7d %8.2f' % (module, label, calls, polls, writes, wall))
    finally:
        subprocess.run(['pvesim', 'stop', '--state-dir', state_dir], check=False, stdout=subprocess.DEVNULL)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    main()
