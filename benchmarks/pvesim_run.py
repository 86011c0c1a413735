# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one way the benchmarks start a private pvesim (port 0, time scale 0, detached) and talk to its admin API."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.request


class Sim(object):
    """A pvesim of `nodes` nodes and `guests` guests in a temporary state directory; stop() removes both.

    With latency_ms, every API request (admin calls excepted) waits that long first, like a real cluster.
    """

    def __init__(self, nodes=3, guests=0, latency_ms=0, prefix='pvesim-bench-'):
        self.dir = tempfile.mkdtemp(prefix=prefix)
        argv = ['pvesim', 'serve', '--port', '0', '--state-dir', self.dir, '--nodes', str(nodes), '--time-scale', '0',
                '--detach']
        if guests:
            argv += ['--guests', str(guests)]
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        path = os.path.join(self.dir, 'connection.json')
        for _wait in range(100):
            if os.path.exists(path):
                break
            time.sleep(0.1)
        with open(path) as fh:
            self.conn = json.load(fh)
        self.ssl = ssl.create_default_context(cafile=self.conn['ca_path'])
        if latency_ms:
            self.admin('POST', '/_pvesim/faults', {'path': '.*', 'kind': 'latency', 'ms': latency_ms, 'count': None})

    def admin(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.conn['url'] + path, data=data, method=method,
                                         headers={'Content-Type': 'application/json'})
        with urllib.request.urlopen(request, context=self.ssl) as answer:  # noqa: S310 - our own simulator
            return json.load(answer)['data']

    def calls(self):
        """(API calls so far, of which writes), logins included, from pvesim's counters."""
        counters = self.admin('GET', '/_pvesim/counters')
        return counters['reads'] + counters['writes'] + counters['logins'], counters['writes']

    def guests(self):
        guests = self.admin('GET', '/_pvesim/state').get('guests') or []
        return list(guests.values()) if isinstance(guests, dict) else guests

    def stop(self):
        subprocess.run(['pvesim', 'stop', '--state-dir', self.dir], check=False, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        shutil.rmtree(self.dir, ignore_errors=True)
