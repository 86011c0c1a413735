# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The kind-free base (base.py) and the guest workflow (guest.py) against pvesim over real HTTPS.

A minimal kind defined here (not qemu.py or lxc.py) shows what the workflow does by itself: the
state table, the plan and diff, check mode, lock waits, refused writes and the cross-node rules.
"""

from __future__ import annotations

import time

import pytest

from ansible_collections.pve.cloud.plugins.module_utils import lxc
from ansible_collections.pve.cloud.plugins.module_utils.api import Backoff
from ansible_collections.pve.cloud.plugins.module_utils.base import InputError, PVEModule
from ansible_collections.pve.cloud.plugins.module_utils.guest import STATES, PVEGuestModule, guest_argument_spec

VZTMPL = 'local:vztmpl/debian-13-standard_13.1-1_amd64.tar.zst'


class Exit(Exception):
    def __init__(self, failed, result):
        super(Exit, self).__init__(result.get('msg'))
        self.failed = failed
        self.result = result


class Module(object):
    """Just what PVEModule uses of AnsibleModule: params, check_mode, warn and the two exits."""

    def __init__(self, sim, check_mode=False, **params):
        spec = guest_argument_spec('hostname')
        self.params = dict((k, v.get('default')) for k, v in spec.items())
        self.params.update(api_host=sim.host, api_port=sim.port, ca_path=sim.ca_path, api_token_id=sim.token_id,
                           api_token_secret=sim.token_secret, validate_certs=True, api_timeout=30, timeouts={})
        self.params.update(rootfs=None, ostemplate=VZTMPL, memory=None)
        self.params.update(params)
        self.check_mode = check_mode
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)

    def fail_json(self, **result):
        raise Exit(True, result)

    def exit_json(self, **result):
        raise Exit(False, result)


class MiniCT(PVEGuestModule):
    """A kind with two options: memory and rootfs."""

    kind = 'lxc'
    label = 'CT'
    schema = lxc.SCHEMA
    name_key = 'hostname'
    config_method = 'PUT'
    clone_storage_overrides_source = True

    def desired(self):
        for key in ('hostname', 'memory'):
            if self.params[key] is not None:
                self.want_key(key, self.params[key], key)
        if self.params['rootfs'] is not None:
            self.want_volume('rootfs', self.params['rootfs'], 'rootfs')

    def create_params(self):
        return dict(self.config_params(), ostemplate=self.params['ostemplate'])

    def read_interfaces(self, guest):
        return self.client.get(self.path(guest, '/interfaces'))


def run(cls, sim, **params):
    with pytest.raises(Exit) as done:
        cls(Module(sim, **params)).run()
    return done.value


def writes(sim, since=0):
    return [r for r in sim.requests(since) if r['method'] != 'GET' and not r['path'].startswith('/_pvesim')]


def test_a_kind_must_say_what_it_is(pvesim):
    class Nameless(MiniCT):
        label = None
    with pytest.raises(TypeError, match='must set kind, label and schema'):
        Nameless(Module(pvesim))


def test_every_state_is_a_row_of_steps():
    for state, steps in STATES.items():
        assert all(callable(getattr(PVEGuestModule, 'step_' + step)) for step in steps), state
    assert STATES['stopped'].index('shutdown') < STATES['stopped'].index('configure')


def test_create_then_no_op_then_change(pvesim):
    created = run(MiniCT, pvesim, hostname='u1', node='pve1', memory=512, rootfs='local-lvm:1')
    assert not created.failed and created.result['changed']
    assert [a['action'] for a in created.result['actions']] == ['create']
    seq = pvesim.counters()['seq']
    again = run(MiniCT, pvesim, hostname='u1', memory=512, rootfs='local-lvm:1')
    assert not again.result['changed'] and writes(pvesim, seq) == []
    assert len([r for r in pvesim.requests(seq) if not r['path'].startswith('/_pvesim')]) <= 3
    more = run(MiniCT, pvesim, hostname='u1', memory=1024, rootfs={'size': '2G'})
    assert [a['action'] for a in more.result['actions']] == ['update_config', 'resize']
    # the diff was recorded while planning: before from the read, after as planned
    assert more.result['diff']['before']['memory'] == 512 and more.result['diff']['after']['memory'] == 1024
    assert 'size=2G' in more.result['diff']['after']['rootfs']
    assert more.result['config']['memory'] == 1024


def test_check_mode_plans_and_writes_nothing(pvesim):
    run(MiniCT, pvesim, hostname='u2', node='pve1', rootfs='local-lvm:1')
    seq = pvesim.counters()['seq']
    planned = run(MiniCT, pvesim, check_mode=True, hostname='u2', memory=2048, state='started')
    assert [a['action'] for a in planned.result['actions']] == ['update_config', 'start']
    assert planned.result['status'] == 'running'
    assert writes(pvesim, seq) == []


def test_start_stop_absent_are_no_ops_when_done(pvesim):
    run(MiniCT, pvesim, hostname='u3', node='pve1', rootfs='local-lvm:1', state='started')
    assert not run(MiniCT, pvesim, hostname='u3', state='started').result['changed']
    stopped = run(MiniCT, pvesim, hostname='u3', state='stopped')
    assert [a['action'] for a in stopped.result['actions']] == ['shutdown']
    assert not run(MiniCT, pvesim, hostname='u3', state='stopped').result['changed']
    assert run(MiniCT, pvesim, hostname='u3', state='absent').result['changed']
    gone = run(MiniCT, pvesim, hostname='u3', state='absent')
    assert not gone.result['changed'] and gone.result['status'] == 'absent'


def test_a_refused_write_fails_with_changed_false(pvesim):
    pvesim.fault(kind='status', method='POST', path='^/nodes/pve1/lxc$', status=500, message='refused for the test')
    refused = run(MiniCT, pvesim, hostname='u4', node='pve1', rootfs='local-lvm:1')
    assert refused.failed and refused.result['changed'] is False
    assert refused.result['failure']['status'] == 500
    assert refused.result['actions'] == [{'action': 'create'}]


def test_lock_is_waited_for_then_written_once(pvesim):
    made = run(MiniCT, pvesim, hostname='u5', node='pve1', rootfs='local-lvm:1')
    pvesim.fault(kind='lock', vmid=made.result['vmid'], lock='backup', seconds=1)
    seq = pvesim.counters()['seq']
    waited = run(MiniCT, pvesim, hostname='u5', memory=768)
    assert not waited.failed and waited.result['config']['memory'] == 768
    puts = [r for r in writes(pvesim, seq) if r['method'] == 'PUT']
    assert puts[-1]['status'] == 200 and all(r['status'] == 500 for r in puts[:-1])


def test_lock_held_too_long_names_the_lock(pvesim):
    made = run(MiniCT, pvesim, hostname='u6', node='pve1', rootfs='local-lvm:1')
    pvesim.fault(kind='lock', vmid=made.result['vmid'], lock='snapshot')
    locked = run(MiniCT, pvesim, hostname='u6', memory=768, timeouts={'lock': 1})
    assert locked.failed and not locked.result['changed']
    assert 'is locked (snapshot) by another task; waited 1s' in locked.result['msg']
    assert locked.result['failure']['reason'] == 'lock'


def test_cross_node_clone_from_local_storage_is_refused_before_any_write(pvesim):
    run(MiniCT, pvesim, hostname='u7', node='pve1', rootfs='local-lvm:1', state='template')
    seq = pvesim.counters()['seq']
    refused = run(MiniCT, pvesim, hostname='u7c', clone='u7', target='pve2', full=True)
    assert refused.failed and refused.result['param'] == 'target'
    assert "rootfs on local-lvm" in refused.result['msg'] and 'or set a shared target storage' in refused.result['msg']
    assert writes(pvesim, seq) == []


class Storages(PVEModule):
    def execute(self):
        self.result['entry'] = self.check_storage('pve1', self.params['storage'], self.params['content'])


@pytest.mark.parametrize('storage, content, words', [
    ('nope', 'images', "storage 'nope' does not exist on node 'pve1' (storages there: local, local-lvm, shared)"),
    ('local', 'images', "storage 'local' does not allow images content on node 'pve1' (storages that do: "
                        "local-lvm, shared)"),
])
def test_check_storage_names_the_fix(pvesim, storage, content, words):
    failed = run(Storages, pvesim, storage=storage, content=content)
    assert failed.failed and failed.result['param'] == 'storage' and words in failed.result['msg']
    ok = run(Storages, pvesim, storage='shared', content='rootdir')
    assert str(ok.result['entry']['shared']) == '1'


def test_input_error_before_any_call(pvesim):
    class Early(PVEModule):
        def execute(self):
            raise InputError('memory', 'too small: set it to 16 or more')
    seq = pvesim.counters()['seq']
    failed = run(Early, pvesim)
    assert failed.result['msg'] == 'memory: too small: set it to 16 or more' and failed.result['param'] == 'memory'
    assert pvesim.requests(seq) == [] or all(r['path'].startswith('/_pvesim') for r in pvesim.requests(seq))


def test_backoff_grows_and_keeps_the_deadline():
    wait = Backoff(0.5, first=0.05, cap=0.2, factor=2)
    started = time.monotonic()
    pauses = 0
    while wait.sleep():
        pauses += 1
    assert 0.3 <= time.monotonic() - started <= 0.6
    assert pauses == wait.attempts and wait.pause == 0.2
    assert not wait.sleep()
