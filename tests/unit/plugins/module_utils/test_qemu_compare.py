# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The semantic comparison and disk planning of the qemu module: pure functions, no Proxmox involved."""

from __future__ import annotations

import pytest

from ansible_collections.pve.cloud.plugins.module_utils import qemu as qm
from ansible_collections.pve.cloud.plugins.module_utils.addresses import addresses
from ansible_collections.pve.cloud.plugins.module_utils.guest import InputError, config_call_params
from ansible_collections.pve.cloud.plugins.module_utils.api import PVEError

GiB = 1024 ** 3


def same(key, have, want, param='config'):
    return qm.same(key, have, qm.normalize(key, want, param))


@pytest.mark.parametrize('key, have, want', [
    ('memory', '2048', 2048),
    ('onboot', 1, True),
    ('protection', 0, False),
    ('cores', 2, '2'),
    ('tags', 'web;prod', ['prod', 'web']),
    ('tags', 'prod,web', ['web', 'prod', 'web']),
    ('sshkeys', 'ssh-ed25519%20AAAA%20a%40b%0A', ['ssh-ed25519 AAAA a@b']),
    ('nameserver', '1.1.1.1 8.8.8.8', ['1.1.1.1', '8.8.8.8']),
    ('description', 'hello\n', 'hello'),
    ('agent', '1', True),
    ('agent', 'enabled=1,fstrim_cloned_disks=1', '1,fstrim_cloned_disks=1'),
    ('agent', '1', {'enabled': True, 'type': 'virtio'}),          # type=virtio is PVE's default
    ('net0', 'virtio=BC:24:11:AA:BB:CC,bridge=vmbr0,firewall=1', {'model': 'virtio', 'bridge': 'vmbr0', 'firewall': True}),
    ('net0', 'virtio=BC:24:11:AA:BB:CC,bridge=vmbr0', 'bridge=vmbr0,model=virtio'),
    ('net0', 'virtio=BC:24:11:AA:BB:CC,bridge=vmbr0', {'model': 'virtio', 'bridge': 'vmbr0', 'firewall': False}),
    ('ipconfig0', 'ip=10.0.0.5/24,gw=10.0.0.1', {'gw': '10.0.0.1', 'ip': '10.0.0.5/24'}),
    ('cpu', 'host', 'cputype=host'),
    ('cipassword', '**********', 'secret'),
    ('boot', 'order=scsi0;net0', 'order=scsi0;net0'),
])
def test_equal_for_pve(key, have, want):
    assert same(key, have, want)


@pytest.mark.parametrize('key, have, want', [
    ('memory', '2048', 4096),
    ('tags', 'web', ['web', 'prod']),
    ('net0', 'virtio=BC:24:11:AA:BB:CC,bridge=vmbr0,firewall=1', {'model': 'virtio', 'bridge': 'vmbr0'}),  # dropped firewall
    ('net0', 'virtio=BC:24:11:AA:BB:CC,bridge=vmbr0', {'model': 'virtio', 'bridge': 'vmbr0', 'tag': 20}),
    ('net0', 'virtio=BC:24:11:AA:BB:CC,bridge=vmbr0', {'model': 'e1000', 'bridge': 'vmbr0'}),
    ('sshkeys', 'ssh-ed25519%20AAAA%20a%40b', ['ssh-ed25519 BBBB a@b']),
    ('boot', 'order=scsi0;net0', 'order=net0;scsi0'),
    ('onboot', 0, True),
])
def test_different_for_pve(key, have, want):
    assert not same(key, have, want)


@pytest.mark.parametrize('key', ['tags', 'sshkeys', 'nameserver', 'searchdomain'])
def test_an_empty_list_removes_the_key(key):
    assert qm.normalize(key, [], key) is None


def test_net_keeps_the_generated_mac():
    want = qm.normalize('net0', {'model': 'virtio', 'bridge': 'vmbr1', 'tag': 20}, 'networks')
    assert qm.wire('net0', want, 'virtio=BC:24:11:AA:BB:CC,bridge=vmbr0') == 'virtio=BC:24:11:AA:BB:CC,bridge=vmbr1,tag=20'
    assert qm.wire('net0', want) == 'virtio,bridge=vmbr1,tag=20'


def test_wire_forms():
    assert qm.wire('tags', qm.normalize('tags', ['b', 'a'], 'tags')) == 'a;b'
    assert qm.wire('sshkeys', qm.normalize('sshkeys', ['ssh-rsa A b'], 'sshkeys')) == 'ssh-rsa%20A%20b'
    assert qm.wire('memory', qm.normalize('memory', 4096, 'memory')) == '4096'
    assert qm.wire('onboot', qm.normalize('onboot', True, 'onboot')) == 1


@pytest.mark.parametrize('key', ['foo', 'net99', 'scsi31', 'ipconfigx'])
def test_unknown_keys_are_refused(key):
    with pytest.raises(InputError) as err:
        qm.check_key(key, 'config')
    assert err.value.param == 'config'
    assert key in err.value.message


@pytest.mark.parametrize('key', ['digest', 'lock', 'template'])
def test_reserved_keys_are_refused(key):
    with pytest.raises(InputError, match='cannot be set here'):
        qm.check_key(key, 'config')


def test_known_keys_pass():
    for key in ('numa', 'hotplug', 'serial0', 'vga', 'net31', 'scsi30', 'virtio15', 'ide3', 'hookscript'):
        qm.check_key(key, 'config')


def test_bad_scalar_is_an_input_error():
    with pytest.raises(InputError, match='not one of'):
        qm.normalize('scsihw', 'virtio-fast', 'scsihw')


# -- disks ----------------------------------------------------------------------------------------

def disk(slot, value):
    return qm.parse_disk(slot, value, 'disks')


def test_new_disk_forms_are_the_same():
    forms = ('local-lvm:32,discard=on',
             {'storage': 'local-lvm', 'size': '32G', 'discard': True},
             {'storage': 'local-lvm', 'size': 32, 'discard': 'on'},
             {'storage': 'local-lvm', 'size': '32768M', 'discard': 'on'})
    for value in forms:
        d = disk('scsi0', value)
        assert (d.storage, d.size, d.options) == ('local-lvm', 32 * GiB, {'discard': 'on'})
        assert d.create_value('disks') == 'local-lvm:32,discard=on'


def test_fractional_size_is_sent_in_gib():
    assert disk('scsi1', {'storage': 'local-lvm', 'size': '512M'}).create_value('disks') == 'local-lvm:0.5'


def test_import_from():
    d = disk('scsi0', {'storage': 'local-lvm', 'import_from': 'local:import/debian-13-genericcloud-amd64.qcow2',
                       'size': '20G'})
    assert d.create_value('disks') == 'local-lvm:0,import-from=local:import/debian-13-genericcloud-amd64.qcow2'
    raw = disk('scsi0', 'local-lvm:0,import-from=local:import/x.qcow2')
    assert (raw.storage, raw.import_from, raw.size) == ('local-lvm', 'local:import/x.qcow2', None)


def test_new_disk_needs_storage_and_size():
    with pytest.raises(InputError, match='give storage and size'):
        disk('scsi0', {'cache': 'none'}).create_value('disks')


def test_grow_never_shrink():
    have = 'local-lvm:vm-100-disk-0,discard=on,size=32G'
    assert qm.plan_disk(disk('scsi0', {'size': '32G'}), have, 'disks') == (None, None)
    assert qm.plan_disk(disk('scsi0', {'size': '32768M'}), have, 'disks') == (None, None)
    assert qm.plan_disk(disk('scsi0', {'size': '40G'}), have, 'disks') == (None, 40 * GiB)
    with pytest.raises(InputError) as err:
        qm.plan_disk(disk('scsi0', {'size': '16G'}), have, 'disks')
    assert 'cannot shrink' in err.value.message and 'disks.scsi0' in err.value.message


def test_never_moved_or_recreated():
    have = 'local-lvm:vm-100-disk-0,size=32G'
    with pytest.raises(InputError, match='never moves or recreates'):
        qm.plan_disk(disk('scsi0', 'shared:32'), have, 'disks')
    # an import on an existing disk is not done again
    d = disk('scsi0', {'storage': 'local-lvm', 'import_from': 'local:import/x.qcow2'})
    assert qm.plan_disk(d, have, 'disks') == (None, None)


def test_options_change_keeps_volume_size_and_unmentioned_options():
    have = 'local-lvm:vm-100-disk-0,discard=on,size=32G'
    value, grow = qm.plan_disk(disk('scsi0', {'size': '32G', 'ssd': True}), have, 'disks')
    assert value == 'local-lvm:vm-100-disk-0,discard=on,size=32G,ssd=1'
    assert grow is None
    assert qm.plan_disk(disk('scsi0', {'discard': True}), have, 'disks') == (None, None)


def test_cdrom_swap_and_cloudinit():
    value, _grow = qm.plan_disk(disk('ide2', 'local:iso/debian-13.iso,media=cdrom'), 'none,media=cdrom', 'disks')
    assert value == 'local:iso/debian-13.iso,media=cdrom'
    ci = disk('ide2', 'local-lvm:cloudinit')
    assert ci.cloudinit and ci.storage == 'local-lvm'
    assert qm.plan_disk(ci, 'local-lvm:vm-100-cloudinit,media=cdrom', 'disks') == (None, None)
    assert qm.plan_disk(ci, None, 'disks') == ('local-lvm:cloudinit', None)
    assert qm.is_cloudinit('local:100/vm-100-cloudinit.qcow2,media=cdrom')
    assert not qm.is_cloudinit('local-lvm:vm-100-disk-0,size=4M')


def test_efidisk_is_created_once():
    efi = qm.parse_disk('efidisk0', {'storage': 'local-lvm', 'efitype': '4m', 'pre_enrolled_keys': True}, 'efidisk0')
    assert efi.create_value('efidisk0') == 'local-lvm:1,efitype=4m,pre-enrolled-keys=1'
    have = 'local-lvm:vm-100-disk-1,efitype=4m,pre-enrolled-keys=1,size=4M'
    assert qm.plan_disk(efi, have, 'efidisk0') == (None, None)


def test_malformed_disk_string():
    with pytest.raises(InputError, match="unknown key 'dicard'"):
        disk('scsi0', 'local-lvm:32,dicard=on')


# -- shared guest helpers -------------------------------------------------------------------------

def test_changed_keys_and_one_call():
    current = {'cores': 1, 'memory': '2048', 'tags': 'a', 'serial0': 'socket'}
    desired = dict((k, qm.normalize(k, v, 'config')) for k, v in (('cores', 1), ('memory', 4096), ('agent', 1)))
    desired['serial0'] = None
    changes = qm.SCHEMA.changes(current, desired)
    assert changes == {'memory': '4096', 'serial0': None, 'agent': '1'}
    assert config_call_params(changes, 'abc') == {'memory': '4096', 'agent': '1', 'delete': 'serial0', 'digest': 'abc'}


@pytest.mark.parametrize('status, message, reason, lock', [
    (500, 'VM is locked (backup)', 'lock', 'backup'),
    (500, 'CT is locked (create)', 'lock', 'create'),
    (500, "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout", 'lock', 'config file'),
    (500, 'checksum mismatch (file change by other user?)', 'digest', None),
    (500, 'detected modified configuration - file changed by other user? Try again.', 'digest', None),
    (500, 'unable to create VM 100: config file already exists', 'exists', None),
    (500, "Configuration file 'nodes/pve1/qemu-server/100.conf' does not exist", 'not_found', None),
    (503, 'Service Unavailable', 'transient', None),
    (403, 'Permission check failed (/vms/100, VM.Config.Memory)', 'permission', None),
    (500, 'VM 100 already running', None, None),
])
def test_errors_are_classified_once(status, message, reason, lock):
    err = PVEError('x', status=status, pve_message=message)
    assert (err.reason, err.lock) == (reason, lock)


def test_addresses_skip_loopback_and_link_local():
    agent = [{'name': 'lo', 'ip-addresses': [{'ip-address': '127.0.0.1', 'ip-address-type': 'ipv4'}]},
             {'name': 'eth0', 'ip-addresses': [{'ip-address': '10.0.0.5', 'ip-address-type': 'ipv4'},
                                               {'ip-address': 'fe80::1', 'ip-address-type': 'ipv6'},
                                               {'ip-address': 'fd00::5', 'ip-address-type': 'ipv6'}]}]
    assert addresses(agent) == ['10.0.0.5', 'fd00::5']
    assert addresses(None) == []
