# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Chaos benchmark (not a test): 30 VMs created with 5 forks while pvesim breaks 10% of all calls.

A quarter of the broken calls get a 502 from a "proxy" before pvesim handles them, a quarter a 502 after pvesim
carried them out, half lose their connection; and 3 create calls are carried out but lose their answer. Then, without faults, the same playbook
runs again. Printed: guests made, duplicates, orphans (guests not asked for, or left locked), failed tasks,
faults that fired, and the second run's changed count and writes.

    make chaos        (or: source .ci/env.sh && setup_venv && sync_collection && python benchmarks/chaos.py)
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from pvesim_run import Sim

PLAYBOOK = '''
- name: Chaos fleet
  hosts: fleet
  connection: local
  gather_facts: false
  tasks:
    - name: One VM per host
      pve.cloud.qemu:
        name: "chaos-{{ inventory_hostname }}"
        node: "pve{{ (groups['fleet'].index(inventory_hostname) % 3) + 1 }}"
        memory: 512
        cores: 1
        disks:
          scsi0: {storage: local-lvm, size: 1G}
        networks:
          net0: {model: virtio, bridge: vmbr0}
        state: started
        timeouts: {lock: 30}
'''


def run_playbook(sim, workdir, forks):
    env = dict(os.environ, PROXMOX_HOST=sim.conn['host'], PROXMOX_PORT=str(sim.conn['port']),
               PROXMOX_CA_PATH=sim.conn['ca_path'], PROXMOX_TOKEN_ID=sim.conn['token_id'],
               PROXMOX_TOKEN_SECRET=sim.conn['token_secret'], ANSIBLE_STDOUT_CALLBACK='default',
               ANSIBLE_CALLBACK_RESULT_FORMAT='json', ANSIBLE_HOST_KEY_CHECKING='False', ANSIBLE_NOCOLOR='1')
    started = time.monotonic()
    proc = subprocess.run(['ansible-playbook', '-i', os.path.join(workdir, 'inventory.ini'), '-f', str(forks),
                           os.path.join(workdir, 'chaos.yml')], env=env, capture_output=True, text=True, check=False)
    recap = collections.Counter()
    for match in re.finditer(r'^\S+\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', proc.stdout,
                             re.MULTILINE):
        for name, value in zip(('ok', 'changed', 'unreachable', 'failed'), match.groups()):
            recap[name] += int(value)
    warnings = re.findall(r'\[WARNING\]: (.*)', proc.stdout + proc.stderr)
    return dict(rc=proc.returncode, seconds=round(time.monotonic() - started, 1), recap=recap, warnings=warnings,
                output=proc.stdout + proc.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--guests', type=int, default=30)
    parser.add_argument('--forks', type=int, default=5)
    parser.add_argument('--rate', type=float, default=0.10, help='share of all calls that fail (default 0.10)')
    parser.add_argument('--lost', type=int, default=3, help='create calls whose answer is lost (default 3)')
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix='chaos-')
    with open(os.path.join(workdir, 'chaos.yml'), 'w') as fh:
        fh.write(PLAYBOOK)
    with open(os.path.join(workdir, 'inventory.ini'), 'w') as fh:
        fh.write('[fleet]\n' + ''.join('c%02d\n' % i for i in range(1, args.guests + 1)))
        fh.write('\n[fleet:vars]\nansible_python_interpreter=%s\n' % sys.executable)
    sim = Sim(nodes=3, prefix='pvesim-chaos-')
    try:
        # a 502 before the call is carried out, a 502 after it (a proxy that stopped waiting), a reset
        # connection; the lost answers last, so that a create refused by one of those does not use one up
        for fault in (dict(kind='status', status=502, rate=args.rate / 4),
                      dict(kind='status', status=502, after=True, rate=args.rate / 4),
                      dict(kind='reset', rate=args.rate / 2)):
            sim.admin('POST', '/_pvesim/faults', dict(fault, path='.*', count=None))
        sim.admin('POST', '/_pvesim/faults', dict(path='^/nodes/[^/]+/qemu$', method='POST', kind='lost_response',
                                                  count=args.lost))
        first = run_playbook(sim, workdir, args.forks)
        log = sim.admin('GET', '/_pvesim/requests?since=0')
        left = sum(f.get('count') or 0 for f in sim.admin('GET', '/_pvesim/faults') if f['kind'] == 'lost_response')
        sim.admin('DELETE', '/_pvesim/faults')
        before = sim.admin('GET', '/_pvesim/counters')
        second = run_playbook(sim, workdir, args.forks)
        after = sim.admin('GET', '/_pvesim/counters')
        guests = sim.guests()
    finally:
        sim.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    names = [(g.get('config') or {}).get('name') for g in guests]
    wanted = set('chaos-c%02d' % i for i in range(1, args.guests + 1))
    counts = collections.Counter(names)
    duplicates = sorted(n for n, c in counts.items() if c > 1)
    orphans = sorted(str(g.get('vmid')) for g in guests
                     if (g.get('config') or {}).get('name') not in wanted or (g.get('config') or {}).get('lock'))
    stopped = sorted(n for n, g in zip(names, guests) if g.get('status') != 'running')
    api_calls = [r for r in log if not r['path'].startswith('/_pvesim')]
    fired_502 = sum(1 for r in api_calls if r['status'] == 502)
    fired_reset = sum(1 for r in api_calls if r['status'] == 0)
    adopted = sum(1 for w in first['warnings'] if 'lost the answer to the create call' in w)
    found_done = sum(1 for w in first['warnings'] if 'so it was not sent again' in w)
    figures = [
        ('guests asked for', args.guests),
        ('guests in pvesim', len(guests)),
        ('distinct names', len(set(names) & wanted)),
        ('duplicates', len(duplicates)),
        ('orphans (unasked or locked)', len(orphans)),
        ('not running', len(stopped)),
        ('first run: failed tasks', first['recap']['failed'] + first['recap']['unreachable']),
        ('first run: changed', first['recap']['changed']),
        ('first run: API calls', len(api_calls)),
        ('first run: 502 answers injected', fired_502),
        ('first run: connections reset', fired_reset),
        ('first run: create answers lost', args.lost - left),
        ('first run: creates adopted after no answer', adopted),
        ('first run: other writes found done on re-read', found_done),
        ('first run: seconds', first['seconds']),
        ('second run: changed', second['recap']['changed']),
        ('second run: failed tasks', second['recap']['failed'] + second['recap']['unreachable']),
        ('second run: writes', after['writes'] - before['writes']),
        ('second run: seconds', second['seconds']),
    ]
    width = max(len(k) for k, _v in figures)
    print('chaos: %d VMs, -f %d, %.0f%% of calls broken (502 or reset), %d create answers lost'
          % (args.guests, args.forks, args.rate * 100, args.lost))
    for key, value in figures:
        print('  %-*s  %s' % (width, key, value))
    ok = (len(guests) == args.guests and not duplicates and not orphans and not stopped
          and first['recap']['failed'] + first['recap']['unreachable'] == 0 and first['rc'] == 0
          and second['recap']['changed'] == 0 and second['rc'] == 0 and after['writes'] == before['writes'])
    if not ok:
        for run in (first, second):
            if run['rc']:
                print(run['output'][-6000:])
        print('chaos: FAILED (duplicates %s, orphans %s, not running %s)' % (duplicates, orphans, stopped))
        return 1
    print('chaos: ok')
    return 0


if __name__ == '__main__':
    sys.exit(main())
