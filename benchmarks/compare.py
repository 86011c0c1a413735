# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark (not a test): pve.cloud next to community.proxmox on the same pvesim, with latency on every request.

For each figure: wall time, API calls (from pvesim's counters) and, for the inventory, the peak RSS of
`ansible-inventory --list`; pve.cloud's, the peer's, and the ratio of the wall times. The two collections run
interleaved (ours, peer, ours, peer...) so that load from others on a shared machine hits both alike.

    bash benchmarks/bench.sh [--sizes 200,2000,10000] [--latency-ms 5] [--quick] [--full]
    make bench [BENCH_ARGS=--full]

Without --full the peer's per-guest facts are not run above 2,000 guests (10 more minutes at 10,000).

Needs two virtual environments: this one (pvesim, ansible-core, the collection on ANSIBLE_COLLECTIONS_PATH) and
the peer's (--peer-venv, PyPI ansible==14.5.0, which bundles community.proxmox 2.0.0); bench.sh makes both.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from pvesim_run import Sim

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OURS, PEER = 'pve.cloud', 'community.proxmox'


# -- running one side -------------------------------------------------------------------------------

class Side(object):
    """How to run ansible for one collection: its PATH and environment."""

    def __init__(self, name, bindir, env):
        self.name = name
        self.bindir = bindir
        self.env = env

    def environ(self, sim, extra=None):
        conn = sim.conn
        env = dict(os.environ, PATH=self.bindir + os.pathsep + os.environ['PATH'], ANSIBLE_HOST_KEY_CHECKING='0',
                   ANSIBLE_INVENTORY_UNPARSED_FAILED='1', ANSIBLE_PYTHON_INTERPRETER=os.path.join(self.bindir, 'python'),
                   ANSIBLE_LOCALHOST_WARNING='0', ANSIBLE_DEPRECATION_WARNINGS='0',
                   PVESIM_HOST=conn['host'], PVESIM_PORT=str(conn['port']), PVESIM_CA=conn['ca_path'],
                   PVESIM_SECRET=conn['token_secret'])
        env.update(self.env)
        if self.name == OURS:
            env.update(PROXMOX_HOST=conn['host'], PROXMOX_PORT=str(conn['port']), PROXMOX_CA_PATH=conn['ca_path'],
                       PROXMOX_TOKEN_ID=conn['token_id'], PROXMOX_TOKEN_SECRET=conn['token_secret'])
        else:
            env.pop('ANSIBLE_COLLECTIONS_PATH', None)  # the ansible package brings its own collections
            env.update(PROXMOX_URL=conn['url'], PROXMOX_USER='root@pam', PROXMOX_TOKEN_ID='pvesim',
                       PROXMOX_TOKEN_SECRET=conn['token_secret'], REQUESTS_CA_BUNDLE=conn['ca_path'])
        env.update(extra or {})
        return env


class Result(object):
    def __init__(self, wall, calls, writes, rss, out, err, rc, cpu=None):
        self.wall, self.calls, self.writes, self.rss, self.out, self.err, self.rc = wall, calls, writes, rss, out, err, rc
        # CPU seconds of the process itself: far less sensitive than the wall time to load from others
        self.cpu = cpu

    def text(self, memory=False):
        if self.rc != 0:
            return 'FAILED (%s)' % first_error(self.out + self.err)
        text = '%.2f s, %d call%s' % (self.wall, self.calls, '' if self.calls == 1 else 's')
        if memory:
            text += ', %.2f s CPU, %.0f MB' % (self.cpu, self.rss)
            if getattr(self, 'runs', 1) > 1:
                text += ' (median of %d runs)' % self.runs
        return text


def first_error(text):
    for line in text.splitlines():
        if 'FAILED' in line or 'ERROR' in line or 'fatal' in line or '"msg"' in line:
            return line.strip()[:160]
    return text.strip().splitlines()[-1][:160] if text.strip() else 'no output'


def run_measured(side, sim, argv, extra_env=None):
    """Like Side.run, with the peak RSS of the process itself (os.wait4)."""
    before, writes_before = sim.calls()
    started = time.monotonic()
    proc = subprocess.Popen(argv, env=side.environ(sim, extra_env), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # read both pipes without deadlocking, then reap the child with wait4 for its own rusage
    out, err = _drain(proc)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    after, writes_after = sim.calls()
    return Result(wall, after - before, writes_after - writes_before, usage.ru_maxrss / 1024.0,
                  out.decode('utf-8', 'replace'), err.decode('utf-8', 'replace'), proc.returncode,
                  cpu=usage.ru_utime + usage.ru_stime)


def _drain(proc):
    import selectors
    chunks = {proc.stdout: [], proc.stderr: []}
    selector = selectors.DefaultSelector()
    for stream in chunks:
        selector.register(stream, selectors.EVENT_READ)
    while selector.get_map():
        for key, _events in selector.select():
            data = os.read(key.fileobj.fileno(), 65536)
            if not data:
                selector.unregister(key.fileobj)
            else:
                chunks[key.fileobj].append(data)
    return b''.join(chunks[proc.stdout]), b''.join(chunks[proc.stderr])


# -- inventory --------------------------------------------------------------------------------------

OUR_MODES = (
    ('no per-guest facts', {}),
    ('config', {'want_config': True}),
    ('config + addresses', {'want_config': True, 'want_addresses': True}),
)
# community.proxmox reads config, status/current and snapshots per guest with want_facts, and the agent's
# interfaces with it; it has no mode for configuration only, so its want_facts run stands for both.
PEER_MODES = {'no per-guest facts': {}, 'config': {'want_facts': True}, 'config + addresses': {'want_facts': True}}


def inventory_file(workdir, name, plugin, options):
    path = os.path.join(workdir, '%s.proxmox.yml' % name)
    with open(path, 'w') as fh:
        json.dump(dict(plugin=plugin, **options), fh)
    return path


def run_inventory(side, sim, workdir, name, options):
    plugin = 'pve.cloud.proxmox' if side.name == OURS else 'community.proxmox.proxmox'
    path = inventory_file(workdir, '%s-%s' % (name, side.name.replace('.', '_')), plugin, options)
    result = run_measured(side, sim, [os.path.join(side.bindir, 'ansible-inventory'), '-i', path, '--list'],
                          dict(ANSIBLE_INVENTORY_ENABLED=plugin))
    if result.rc == 0:
        hostvars = json.loads(result.out)['_meta']['hostvars']
        result.hosts = sum(1 for h in hostvars.values() if h)
    return result


def median_result(results):
    ok = [r for r in results if r.rc == 0]
    if not ok:
        return results[0]
    ok.sort(key=lambda r: r.wall)
    median = ok[len(ok) // 2]
    # the CPU figure is the median of the runs' CPU times, which load from others moves far less than the wall times
    cpus = sorted(r.cpu for r in ok)
    median.cpu = cpus[len(cpus) // 2]
    median.runs = len(ok)
    return median


class Table(object):
    def __init__(self):
        self.rows = []

    def add(self, what, ours, peer, memory=False, note=''):
        ratio = ''
        if ours is not None and peer is not None and ours.rc == 0 and peer.rc == 0 and peer.wall > 0:
            ratio = '%.2fx' % (ours.wall / peer.wall)
            if memory and peer.cpu:
                ratio += ' (CPU %.2fx)' % (ours.cpu / peer.cpu)
        row = (what, ours.text(memory) if ours else '-', peer.text(memory) if peer else note or '-', ratio)
        self.rows.append(row)
        print('| %s | %s | %s | %s |' % row, flush=True)


def bench_inventory(table, sides, args, workdir):
    memory = {}
    for size in args.sizes:
        sim = Sim(args.nodes, size, args.latency_ms, prefix='pvesim-compare-')
        try:
            peer_facts = None
            for mode, options in OUR_MODES:
                repeat = args.repeat if mode == 'no per-guest facts' else args.repeat_facts
                ours_runs, peer_runs = [], []
                run_peer = PEER in sides and (mode == 'no per-guest facts' or peer_facts is None)
                if run_peer and mode != 'no per-guest facts' and size > args.peer_facts_max:
                    run_peer = False
                for run in range(repeat):
                    ours_runs.append(run_inventory(sides[OURS], sim, workdir, 'inv', options))
                    # the peer's per-guest facts run once (90 s at 2,000 guests) and stand for both per-guest rows
                    if run_peer and (mode == 'no per-guest facts' or run == 0):
                        peer_runs.append(run_inventory(sides[PEER], sim, workdir, 'inv', PEER_MODES[mode]))
                ours = median_result(ours_runs)
                peer = median_result(peer_runs) if peer_runs else None
                if mode != 'no per-guest facts':
                    peer = peer or peer_facts
                    peer_facts = peer
                note = 'not run above %d guests (--peer-facts-max)' % args.peer_facts_max if peer is None else ''
                table.add('inventory %s guests, %s' % ('{:,}'.format(size), mode), ours, peer, memory=True, note=note)
                if mode == 'no per-guest facts':
                    memory[size] = (ours.rss, peer.rss if peer else None)
            if size == args.cache_size:
                bench_cache(table, sides, sim, workdir)
            if size == args.concurrency_size:
                for concurrency in args.concurrency:
                    options = dict(want_config=True, want_addresses=True, concurrency=concurrency)
                    result = run_inventory(sides[OURS], sim, workdir, 'conc', options)
                    table.add('... config + addresses, concurrency %d' % concurrency, result, None, memory=True)
        finally:
            sim.stop()
    sizes = sorted(memory)
    if len(sizes) >= 2:
        small, large = sizes[-2], sizes[-1]
        for index, name in ((0, OURS), (1, PEER)):
            if memory[small][index] and memory[large][index]:
                print('peak RSS without per-guest facts, %s: %.0f MB at %s guests, %.0f MB at %s: %.2fx'
                      % (name, memory[small][index], '{:,}'.format(small), memory[large][index], '{:,}'.format(large),
                         memory[large][index] / memory[small][index]), flush=True)


def bench_cache(table, sides, sim, workdir):
    results = {}
    for side in sides.values():
        cache_dir = os.path.join(workdir, 'cache-%s' % side.name)
        options = dict(cache=True, cache_plugin='ansible.builtin.jsonfile', cache_connection=cache_dir,
                       cache_timeout=600)
        if side.name == OURS:
            options.update(want_config=True, want_addresses=True)
        else:
            options.update(want_facts=True)
        run_inventory(side, sim, workdir, 'cache', options)  # fills the cache
        results[side.name] = run_inventory(side, sim, workdir, 'cache', options)
    table.add('... config + addresses, second run with cache: true', results.get(OURS), results.get(PEER),
              memory=True)


# -- modules ----------------------------------------------------------------------------------------

def playbook(workdir, name, hosts, tasks):
    path = os.path.join(workdir, '%s.yml' % name)
    with open(path, 'w') as fh:
        json.dump([dict(hosts=hosts, gather_facts=False, tasks=tasks)], fh, indent=1)
    return path


def peer_auth():
    return dict(api_host='{{ lookup("env", "PVESIM_HOST") }}', api_port='{{ lookup("env", "PVESIM_PORT") | int }}',
                api_user='root@pam', api_token_id='pvesim', api_token_secret='{{ lookup("env", "PVESIM_SECRET") }}',
                validate_certs=True, ca_path='{{ lookup("env", "PVESIM_CA") }}')


def qemu_task(side, name, memory, vmid=None, change=False):
    if side == OURS:
        args = dict(name=name, node='pve1', memory=memory, cores=1,
                    disks=dict(scsi0=dict(storage='local-lvm', size='4G')), networks=dict(net0=dict(bridge='vmbr0')))
        if vmid:
            args['vmid'] = vmid
        return {'pve.cloud.qemu': args}
    args = dict(peer_auth(), name=name, node='pve1', memory=memory, cores=1, scsi=dict(scsi0='local-lvm:4'),
                net=dict(net0='virtio,bridge=vmbr0'))
    if vmid:
        args['vmid'] = vmid
    if change:
        args['update'] = True
    return {'community.proxmox.proxmox_kvm': args}


# The container hook: pve.cloud.lxc is being written. Once plugins/modules/lxc.py exists these rows run; adjust
# OUR_LXC to its options if they differ.
OUR_LXC = dict(node='pve1', ostemplate='local:vztmpl/debian-13-standard_13.1-1_amd64.tar.zst', memory=512, cores=1,
               rootfs=dict(storage='local-lvm', size='4G'),
               networks=dict(net0=dict(name='eth0', bridge='vmbr0', ip='dhcp')))


def lxc_task(side, name, vmid):
    if side == OURS:
        return {'pve.cloud.lxc': dict(OUR_LXC, hostname=name, vmid=vmid)}
    return {'community.proxmox.proxmox': dict(peer_auth(), vmid=vmid, node='pve1', hostname=name, memory=512, cores=1,
                                              ostemplate=OUR_LXC['ostemplate'], disk='local-lvm:4',
                                              netif=dict(net0='name=eth0,bridge=vmbr0,ip=dhcp'))}


def run_playbook(side, sim, path, inventory='localhost,', forks=5):
    argv = [os.path.join(side.bindir, 'ansible-playbook'), '-i', inventory, '-c', 'local', '-f', str(forks), path]
    return run_measured(side, sim, argv)


def bench_modules(table, sides, args, workdir):
    sim = Sim(args.nodes, 0, args.latency_ms, prefix='pvesim-compare-')
    try:
        vmids = {OURS: 200, PEER: 300}
        steps = (('VM create', 1024, False), ('VM no-op (same task again)', 1024, False),
                 ('VM change (memory)', 2048, True))
        for what, memory, change in steps:
            results = {}
            for side in sides.values():
                name = 'bench-%s' % side.name.split('.')[0]
                path = playbook(workdir, 'qemu-%s' % side.name, 'localhost',
                                [qemu_task(side.name, name, memory, vmids[side.name], change)])
                results[side.name] = run_playbook(side, sim, path)
            table.add(what, results.get(OURS), results.get(PEER))

        if os.path.exists(os.path.join(ROOT, 'plugins', 'modules', 'lxc.py')):
            for what in ('container create', 'container no-op (same task again)'):
                results = {}
                for side in sides.values():
                    vmid = vmids[side.name] + 1
                    path = playbook(workdir, 'lxc-%s' % side.name, 'localhost',
                                    [lxc_task(side.name, 'ct-%s' % side.name.split('.')[0], vmid)])
                    results[side.name] = run_playbook(side, sim, path)
                table.add(what, results.get(OURS), results.get(PEER))
        else:
            print('| container create / no-op | not run: pve.cloud.lxc does not exist yet | | |', flush=True)

        race(table, sides, sim, workdir)
    finally:
        sim.stop()


def race(table, sides, sim, workdir):
    """10 forks create 10 VMs without a VMID at the same moment: every one must get its own."""
    results = {}
    inventory = os.path.join(workdir, 'race.ini')
    with open(inventory, 'w') as fh:
        fh.write('\n'.join('race%d ansible_connection=local' % i for i in range(10)) + '\n')
    for side in sides.values():
        prefix = 'race-%s-' % side.name.split('.')[0]
        path = playbook(workdir, 'race-%s' % side.name, 'all',
                        [qemu_task(side.name, prefix + '{{ inventory_hostname }}', 512)])
        result = run_playbook(side, sim, path, inventory=inventory, forks=10)
        guests = [g for g in sim.guests() if str((g.get('config') or {}).get('name', '')).startswith(prefix)]
        failed = sum(int(n) for n in re.findall(r'failed=(\d+)', result.out))
        result.note = '%d VMs, %d distinct VMIDs, %d failed tasks' % (
            len(guests), len(set(g.get('vmid') for g in guests)), failed)
        if result.rc not in (0, 2):
            result.note += ' (ansible-playbook exit %d)' % result.rc
        result.rc = 0  # a lost race is a result, not a benchmark failure
        results[side.name] = result
    row = ['10-fork VMID race (10 creates, no vmid)']
    row += ['%s; %s' % (results[n].text(), results[n].note) if n in results else '-' for n in (OURS, PEER)]
    row.append('%.2fx' % (results[OURS].wall / results[PEER].wall) if PEER in results else '')
    table.rows.append(tuple(row))
    print('| %s | %s | %s | %s |' % tuple(row), flush=True)


# -- client overhead --------------------------------------------------------------------------------

def bench_client(args):
    """CPU per call of the shared client next to a requests session and a bare http.client connection (keep-alive)."""
    sim = Sim(args.nodes, 8, prefix='pvesim-compare-')
    try:
        code = r'''
import http.client, json, ssl, sys, time
import requests
from ansible_collections.pve.cloud.plugins.module_utils.api import PVEClient
conn = json.load(open(sys.argv[1])); n = int(sys.argv[2])
client = PVEClient(conn['host'], conn['port'], api_token_id=conn['token_id'], api_token_secret=conn['token_secret'],
                   ca_path=conn['ca_path'])
vm = [g for g in client.get('/cluster/resources', type='vm') if g['type'] == 'qemu'][0]
path = '/nodes/%s/qemu/%s/config' % (vm['node'], vm['vmid'])
hdr = {'Authorization': 'PVEAPIToken=%s=%s' % (conn['token_id'], conn['token_secret'])}
session = requests.Session()
session.headers.update(hdr)
h = http.client.HTTPSConnection(conn['host'], conn['port'], context=ssl.create_default_context(cafile=conn['ca_path']))
def bare():
    h.request('GET', '/api2/json' + path, headers=hdr); r = h.getresponse(); json.loads(r.read())
ways = dict(PVEClient=lambda: client.get(path),
            requests=lambda: session.get(conn['url'] + '/api2/json' + path, verify=conn['ca_path']).json(),
            bare=bare)
figures = {}
for name, call in ways.items():
    for _ in range(50): call()
    t = time.process_time(); w = time.perf_counter()
    for _ in range(n): call()
    figures[name] = ((time.process_time() - t) / n * 1000, (time.perf_counter() - w) / n * 1000)
print('client CPU per call: PVEClient %.2f ms, requests.Session %.2f ms, bare http.client %.2f ms; wall %s' % (
    figures['PVEClient'][0], figures['requests'][0], figures['bare'][0],
    ' / '.join('%.2f' % figures[k][1] for k in ('PVEClient', 'requests', 'bare'))))
'''
        env = dict(os.environ, PYTHONPATH=os.environ.get('ANSIBLE_COLLECTIONS_PATH', ''))
        proc = subprocess.run([sys.executable, '-c', code, os.path.join(sim.dir, 'connection.json'), '1000'],
                              capture_output=True, text=True, check=False, env=env)
        print(proc.stdout.strip() or proc.stderr.strip().splitlines()[-1], flush=True)
    finally:
        sim.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', 1)[0])
    parser.add_argument('--sizes', default='200,2000,10000')
    parser.add_argument('--nodes', type=int, default=3)
    parser.add_argument('--latency-ms', type=float, default=5)
    parser.add_argument('--repeat', type=int, default=3, help='runs of each quick inventory figure (median)')
    parser.add_argument('--repeat-facts', type=int, default=1, help='runs of pve.cloud with per-guest facts (median)')
    parser.add_argument('--peer-facts-max', type=int, default=2000,
                        help="largest cluster on which the peer's per-guest facts run: 3 calls per guest one after "
                             "another, about 10 minutes at 10,000 guests")
    parser.add_argument('--full', action='store_true', help="the peer's per-guest facts at every size")
    parser.add_argument('--cache-size', type=int, default=2000)
    parser.add_argument('--concurrency-size', type=int, default=2000)
    parser.add_argument('--concurrency', default='4,8,16')
    parser.add_argument('--peer-venv', default=os.path.join(ROOT, '.work', 'bench-peer'))
    parser.add_argument('--quick', action='store_true', help='200 and 2,000 guests only')
    parser.add_argument('--skip', default='', help='comma-separated: inventory, modules, client')
    args = parser.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(',') if s]
    args.concurrency = [int(c) for c in args.concurrency.split(',') if c]
    if args.quick:
        args.sizes = [s for s in args.sizes if s <= 2000]
    if args.full:
        args.peer_facts_max = max(args.sizes)
    skip = set(args.skip.split(','))

    ours_bin = os.path.dirname(sys.executable)
    sides = {OURS: Side(OURS, ours_bin, {})}
    peer_bin = os.path.join(args.peer_venv, 'bin')
    if os.path.exists(os.path.join(peer_bin, 'ansible-playbook')):
        sides[PEER] = Side(PEER, peer_bin, {})
    else:
        print('no peer venv at %s: only pve.cloud is measured' % args.peer_venv)
    for tool in ('pvesim', 'ansible-inventory'):
        if not shutil.which(tool):
            sys.exit('%s is not on PATH' % tool)

    print('%s, %d nodes, %s ms latency on every API request; %s, %d CPUs, load %s'
          % (time.strftime('%Y-%m-%d %H:%M'), args.nodes, args.latency_ms, os.uname().machine, os.cpu_count(),
             ' '.join('%.1f' % x for x in os.getloadavg())), flush=True)
    print('| what | %s | %s 2.0.0 | ratio |' % (OURS, PEER))
    print('|---|---|---|---|', flush=True)
    table = Table()
    workdir = tempfile.mkdtemp(prefix='pve-cloud-compare-')
    started = time.monotonic()
    try:
        if 'inventory' not in skip:
            bench_inventory(table, sides, args, workdir)
        if 'modules' not in skip:
            bench_modules(table, sides, args, workdir)
        if 'client' not in skip:
            bench_client(args)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    load = ' '.join('%.1f' % x for x in os.getloadavg())
    print('benchmark time %.0f s; load at the end %s' % (time.monotonic() - started, load))


if __name__ == '__main__':
    main()
