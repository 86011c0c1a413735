# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import pytest

from ansible_collections.pve.cloud.plugins.module_utils import propstring as ps
from ansible_collections.pve.cloud.plugins.module_utils.qemu_schema import FORMATS

NET = FORMATS['net']
SCSI = FORMATS['scsi']


def test_net_model_alias_sets_model_and_mac():
    assert ps.parse('virtio=BC:24:11:AA:BB:CC,bridge=vmbr0,firewall=1', NET) == dict(
        model='virtio', macaddr='BC:24:11:AA:BB:CC', bridge='vmbr0', firewall=1)


def test_net_prints_like_pve():
    values = dict(model='virtio', macaddr='BC:24:11:AA:BB:CC', firewall=1, bridge='vmbr0', tag=20)
    assert ps.format_string(values, NET) == 'virtio=BC:24:11:AA:BB:CC,bridge=vmbr0,firewall=1,tag=20'


def test_default_key_and_volume_alias():
    assert ps.parse('local-lvm:vm-100-disk-0,ssd=on,size=32G', SCSI) == dict(
        file='local-lvm:vm-100-disk-0', ssd=1, size='32G')
    assert ps.parse('volume=local:iso/x.iso,media=cdrom', SCSI)['file'] == 'local:iso/x.iso'


@pytest.mark.parametrize('text, message', [
    ('virtio,bridg=vmbr0', "unknown key 'bridg'"),
    ('virtio,bridge=a,bridge=b', "key 'bridge' given twice"),
    ('virtio,firewall=maybe', 'firewall'),
    ('rtl9999', "'rtl9999' is not one of"),
    ('virtio,tag=x', 'not an integer'),
    ('virtio=BC:24:11:AA:BB:CC,e1000=BC:24:11:AA:BB:CD', 'two models'),
])
def test_malformed_net_is_rejected_naming_the_part(text, message):
    with pytest.raises(ps.PropertyStringError) as err:
        ps.parse(text, NET, 'networks.net0')
    assert message in str(err.value)
    assert 'networks.net0' in str(err.value)


def test_item_without_key_needs_a_default_key():
    with pytest.raises(ps.PropertyStringError, match='has no key'):
        ps.parse('10.0.0.1', FORMATS['ipconfig'], 'ipconfig0')


@pytest.mark.parametrize('text, size', [
    ('32G', 32 * 1024 ** 3), ('32768M', 32 * 1024 ** 3), ('0.5T', 512 * 1024 ** 3), ('10GiB', 10 * 1024 ** 3),
    ('4M', 4 * 1024 ** 2), (1024, 1024), ('1.5G', 1536 * 1024 ** 2),
])
def test_sizes_in_any_unit(text, size):
    assert ps.parse_size(text) == size


def test_plain_number_takes_the_default_unit():
    assert ps.parse_size('32', default_unit='G') == 32 * 1024 ** 3
    assert ps.parse_size(8, default_unit='G') == 8 * 1024 ** 3


@pytest.mark.parametrize('bad', ['big', '32X', '', '-1G', True])
def test_bad_sizes(bad):
    with pytest.raises(ps.PropertyStringError):
        ps.parse_size(bad)


@pytest.mark.parametrize('size, text', [(32 * 1024 ** 3, '32G'), (1536 * 1024 ** 2, '1536M'), (4 * 1024 ** 4, '4T'),
                                        (1000, '1000')])
def test_format_size(size, text):
    assert ps.format_size(size) == text


def test_tags_ignore_order_separators_and_duplicates():
    assert ps.parse_tags('web;prod') == ps.parse_tags(['prod', 'web']) == ps.parse_tags('prod,web web') == ['prod', 'web']
    assert ps.format_tags(['b', 'a']) == 'a;b'
    assert ps.parse_tags(None) == []


def test_bad_tag():
    with pytest.raises(ps.PropertyStringError, match="tag 'a/b'"):
        ps.parse_tags(['a/b'])


def test_sshkeys_are_url_encoded_as_pve_stores_them():
    keys = ['ssh-ed25519 AAAAC3Nz admin@example.org', 'ssh-rsa AAAAB3 x+y@z']
    encoded = ps.encode_sshkeys(keys)
    assert encoded == 'ssh-ed25519%20AAAAC3Nz%20admin%40example.org%0Assh-rsa%20AAAAB3%20x%2By%40z'
    assert ps.decode_sshkeys(encoded) == keys
    # a trailing newline or blank line, as the GUI stores them, is not a difference
    assert ps.decode_sshkeys(encoded + '%0A%0A') == keys
    assert ps.decode_sshkeys_list('ssh-rsa  A b\n\n') == ['ssh-rsa A b']


@pytest.mark.parametrize('value, result', [('1', 1), ('on', 1), ('yes', 1), (True, 1), ('0', 0), ('off', 0),
                                           (False, 0), ('false', 0)])
def test_booleans_are_0_or_1(value, result):
    assert ps.to_01(value) == result


def test_not_a_boolean():
    with pytest.raises(ValueError):
        ps.to_bool('maybe')


def test_split_list():
    assert ps.split_list('1.1.1.1 8.8.8.8,9.9.9.9') == ['1.1.1.1', '8.8.8.8', '9.9.9.9']
    assert ps.split_list(['a b', 'c']) == ['a', 'b', 'c']
