# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark (not a test): controller memory of a pve.cloud.template upload (src) against pvesim.

Runs the module process itself (not through ansible-playbook, whose own memory would hide it) once with a
1 MiB file and once with each --sizes-mib file, and prints the peak resident memory of each module process
(wait4 ru_maxrss) and the upload rate. A streamed upload keeps the peak flat whatever the file size.

    python benchmarks/template_upload.py [--sizes-mib 64 512]

Needs pvesim on PATH and the collection importable: COLL (set by `source .ci/env.sh && setup_venv &&
sync_collection`) pointing at .../ansible_collections/pve/cloud, or run from such a copy.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

MiB = 1024 * 1024


def collection_root():
    coll = os.environ.get('COLL') or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if not coll.rstrip('/').endswith('ansible_collections/pve/cloud'):
        sys.exit('set COLL to a copy of the collection at .../ansible_collections/pve/cloud '
                 '(source .ci/env.sh && setup_venv && sync_collection)')
    return coll


def start_pvesim(state_dir):
    subprocess.run(['pvesim', 'serve', '--port', '0', '--state-dir', state_dir, '--nodes', '1', '--time-scale', '0',
                    '--detach'], check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(state_dir, 'connection.json')) as fh:
        return json.load(fh)


def make_file(path, size):
    block = os.urandom(MiB)
    with open(path, 'wb') as fh:
        for _block in range(size // MiB):
            fh.write(block)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', 1)[0])
    parser.add_argument('--sizes-mib', type=int, nargs='+', default=[64, 512])
    args = parser.parse_args()
    if not shutil.which('pvesim'):
        sys.exit('pvesim is not on PATH')
    coll = collection_root()
    state_dir = tempfile.mkdtemp(prefix='pvesim-bench-')
    workdir = tempfile.mkdtemp(prefix='template-upload-')
    try:
        conn = start_pvesim(state_dir)
        print('%-12s %10s %16s %12s' % ('file (MiB)', 'wall (s)', 'peak RSS (MiB)', 'MiB/s'))
        for size in [1] + args.sizes_mib:
            path = os.path.join(workdir, 'bench-%d.iso' % size)
            make_file(path, size * MiB)
            wall, peak = measure(coll, conn, workdir, path)
            print('%-12d %10.2f %16.1f %12.1f' % (size, wall, peak, size / wall if wall else 0))
            os.unlink(path)
    finally:
        subprocess.run(['pvesim', 'stop', '--state-dir', state_dir], check=False, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        shutil.rmtree(state_dir, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)


def measure(coll, conn, workdir, path):
    """Wall time and peak RSS (MiB) of one module process uploading `path`."""
    args = dict(ANSIBLE_MODULE_ARGS=dict(
        src=path, node='pve1', storage='local', api_host=conn['host'], api_port=conn['port'],
        ca_path=conn['ca_path'], api_token_id=conn['token_id'], api_token_secret=conn['token_secret']))
    args_path = os.path.join(workdir, 'args.json')
    with open(args_path, 'w') as fh:
        json.dump(args, fh)
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.dirname(coll))))
    out_path = os.path.join(workdir, 'out.json')
    started = time.monotonic()
    with open(out_path, 'wb') as out:
        pid = subprocess.Popen([sys.executable, os.path.join(coll, 'plugins/modules/template.py'), args_path],
                               env=env, stdout=out, stderr=subprocess.STDOUT).pid
        _pid, status, usage = os.wait4(pid, 0)
    wall = time.monotonic() - started
    with open(out_path) as fh:
        text = fh.read()
    try:
        result = json.loads(text)
    except ValueError:
        sys.exit('module output is not JSON:\n%s' % text[-2000:])
    if status != 0 or result.get('failed') or result['volumes'][0]['status'] != 'uploaded':
        sys.exit('module failed: %s' % text[-2000:])
    return wall, usage.ru_maxrss / 1024.0


if __name__ == '__main__':
    main()
