# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The inventory plugin's file check and pure helpers; the API side is tested against pvesim in integration."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleParserError

import yaml

from ansible_collections.pve.cloud.plugins.module_utils.addresses import interface_addresses, pick_address
from ansible_collections.pve.cloud.plugins.module_utils.propstring import split_tags
from ansible_collections.pve.cloud.plugins.inventory.proxmox import (
    DOCUMENTATION,
    OPTION_ALIASES,
    InventoryModule,
    agent_enabled,
    agent_interfaces,
    config_value,
    dns_name,
    guest_name,
    identifier,
    match_any,
    resource_facts,
    sanitize_group_name,
    split_url,
    static_address,
    _origin_rank,
)


@pytest.mark.parametrize('name, valid', [
    ('cloud.proxmox.yml', True),
    ('cloud.proxmox.yaml', True),
    ('proxmox.yml', True),
    ('my-proxmox.yml', True),
    ('cloud.yml', False),
    ('proxmox.yml.bak', False),
    ('proxmox.json', False),
])
def test_verify_file(tmp_path, name, valid):
    path = tmp_path / name
    path.write_text('plugin: pve.cloud.proxmox\n')
    assert InventoryModule().verify_file(str(path)) is valid


def test_verify_file_missing(tmp_path):
    assert InventoryModule().verify_file(str(tmp_path / 'absent.proxmox.yml')) is False


def test_option_aliases_match_documentation():
    options = yaml.safe_load(DOCUMENTATION)['options']
    assert sorted(OPTION_ALIASES) == sorted(a for o in options.values() for a in o.get('aliases', []))


@pytest.mark.parametrize('raw, safe', [
    ('proxmox_pve-1_qemu', 'proxmox_pve_1_qemu'),
    ('proxmox_pool_prod/web', 'proxmox_pool_prod_web'),
    ('proxmox_tag_Web.Server', 'proxmox_tag_web_server'),
    ('proxmox_tag_a+b', 'proxmox_tag_a_b'),
    ('proxmox_all_running', 'proxmox_all_running'),
])
def test_sanitize_group_name(raw, safe):
    assert sanitize_group_name(raw) == safe


def test_split_tags():
    assert split_tags('web;prod') == ['web', 'prod']
    assert split_tags('web,prod prod;;db') == ['web', 'prod', 'db']
    assert split_tags('') == []
    assert split_tags(None) == []


def test_match_any():
    assert match_any('pve1', ['pve*'])
    assert not match_any('node1', ['pve*'])
    assert match_any('web-01', ['~^web-[0-9]+$'])
    assert match_any('prod-web-01', ['~web'])  # a regex is searched, not anchored
    assert not match_any('Web', ['web'])  # case-sensitive, as PVE names are
    assert not match_any(None, ['*'])


class TestAddresses:

    def test_ipv4_preferred_over_earlier_ipv6(self):
        assert pick_address(['2001:db8::5', '10.0.0.5']) == '10.0.0.5'

    def test_loopback_link_local_unspecified_skipped(self):
        assert pick_address(['127.0.0.1', '::1', 'fe80::1', '169.254.1.1', '0.0.0.0', '2001:db8::7']) == '2001:db8::7'

    def test_prefix_zone_and_garbage(self):
        assert pick_address(['10.0.0.5/24']) == '10.0.0.5'
        assert pick_address(['fe80::1%eth0', 'not-an-ip', '', None]) is None

    def test_agent_interfaces(self):
        answer = {'result': [
            {'name': 'lo', 'hardware-address': '00:00:00:00:00:00',
             'ip-addresses': [{'ip-address': '127.0.0.1', 'ip-address-type': 'ipv4', 'prefix': 8},
                              {'ip-address': '::1', 'ip-address-type': 'ipv6', 'prefix': 128}]},
            {'name': 'eth0', 'hardware-address': 'bc:24:11:00:00:01',
             'ip-addresses': [{'ip-address': 'fe80::be24:11ff:fe00:1', 'ip-address-type': 'ipv6', 'prefix': 64},
                              {'ip-address': '2001:db8::10', 'ip-address-type': 'ipv6', 'prefix': 64},
                              {'ip-address': '192.0.2.10', 'ip-address-type': 'ipv4', 'prefix': 24}]},
            {'name': 'eth1', 'hardware-address': 'bc:24:11:00:00:02',
             'ip-addresses': [{'ip-address': '198.51.100.4', 'ip-address-type': 'ipv4', 'prefix': 24}]},
        ]}
        facts = agent_interfaces(answer)
        assert facts[1] == {'name': 'eth0', 'mac-address': 'bc:24:11:00:00:01',
                            'ip-addresses': ['fe80::be24:11ff:fe00:1/64', '2001:db8::10/64', '192.0.2.10/24']}
        assert pick_address(interface_addresses(answer['result'])) == '192.0.2.10'

    def test_agent_error_answer(self):
        # an agent without the command answers with an error object instead of a list
        assert agent_interfaces({'result': {'error': {'class': 'CommandDisabled'}}}) is None

    def test_lxc_interfaces_use_inet_types(self):
        interfaces = [
            {'name': 'lo', 'hwaddr': '00:00:00:00:00:00', 'inet': '127.0.0.1/8', 'inet6': '::1/128',
             'ip-addresses': [{'ip-address': '127.0.0.1', 'ip-address-type': 'inet', 'prefix': 8}]},
            {'name': 'eth0', 'hwaddr': 'bc:24:11:00:00:03', 'inet6': '2001:db8::3/64',
             'ip-addresses': [{'ip-address': '2001:db8::3', 'ip-address-type': 'inet6', 'prefix': 64}]},
            {'name': 'eth1', 'hwaddr': 'bc:24:11:00:00:04', 'inet': '10.1.0.4/24'},
        ]
        assert pick_address(interface_addresses(interfaces)) == '10.1.0.4'

    def test_static_ipconfig(self):
        config = {'ipconfig1': 'ip=10.0.1.5/24', 'ipconfig0': 'ip=dhcp,ip6=2001:db8::5/64',
                  'ipconfig10': 'ip=10.0.10.5/24'}
        # dhcp is skipped; ipconfig1 comes before ipconfig10; IPv4 wins over the ipconfig0 IPv6
        assert static_address(config, 'ipconfig') == '10.0.1.5'
        assert static_address({'ipconfig0': 'ip6=auto'}, 'ipconfig') is None
        assert static_address({'ipconfig0': 'ip=dhcp,ip6=2001:db8::5/64'}, 'ipconfig') == '2001:db8::5'

    def test_static_lxc_net(self):
        config = {'net0': 'name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:05,ip=192.0.2.50/24,gw=192.0.2.1',
                  'ipconfig0': 'ip=10.9.9.9/24'}
        assert static_address(config, 'net') == '192.0.2.50'
        assert static_address({'net0': 'name=eth0,bridge=vmbr0,ip=dhcp'}, 'net') is None
        assert static_address({}, 'net') is None

    @pytest.mark.parametrize('value, enabled', [
        ('1', True), (1, True), ('enabled=1,fstrim_cloned_disks=1', True), ('1,type=virtio', True),
        ('type=virtio,enabled=1', True), ('fstrim_cloned_disks=1', False),
        ('0', False), ('enabled=0', False), (None, False),
    ])
    def test_agent_enabled(self, value, enabled):
        config = {} if value is None else {'agent': value}
        assert agent_enabled(config) is enabled


def test_resource_facts_coerce_wire_types():
    facts = resource_facts({'id': 'qemu/100', 'vmid': '100', 'type': 'qemu', 'name': 'web1', 'node': 'pve1',
                            'status': 'running', 'tags': 'web;prod', 'template': 0, 'maxcpu': 2,
                            'maxmem': 2147483648, 'maxdisk': 34359738368})
    assert facts['vmid'] == 100
    assert facts['tags'] == ['web', 'prod']
    assert facts['template'] is False
    assert facts['pool'] == facts['lock'] == facts['hastate'] == ''
    assert facts['vmtype'] == facts['type'] == 'qemu'
    assert resource_facts({'vmid': 9000, 'type': 'qemu', 'template': 1})['template'] is True


def test_identifier_trusts_only_what_cannot_be_a_template():
    try:
        from ansible.template import is_trusted_as_template
    except ImportError:  # before ansible-core 2.19: plain strings are not templated unless they hold {{ }}
        from ansible.utils.unsafe_proxy import AnsibleUnsafe
        assert not isinstance(identifier('pve1'), AnsibleUnsafe)
        assert isinstance(identifier('{{ lookup("pipe", "id") }}'), AnsibleUnsafe)
        return
    assert is_trusted_as_template(identifier('pve1'))
    assert [is_trusted_as_template(t) for t in identifier(['web', 'prod'])] == [True, True]
    assert not is_trusted_as_template(identifier('{{ lookup("pipe", "id") }}'))
    assert identifier(100) == 100 and identifier(None) is None


def test_config_value():
    assert config_value('net0', 'virtio=BC:24:11:00:00:01,bridge=vmbr0') == {'virtio': 'BC:24:11:00:00:01',
                                                                             'bridge': 'vmbr0'}
    assert config_value('scsi0', 'local-lvm:vm-100-disk-0,size=32G') == {'disk_image': 'local-lvm:vm-100-disk-0',
                                                                         'size': '32G'}
    assert config_value('description', 'a=b,c=d') == 'a=b,c=d'
    assert config_value('args', '-cpu host,kvm=off') == '-cpu host,kvm=off'
    assert config_value('cores', 2) == 2
    assert config_value('lxc', [['lxc.apparmor.profile', 'unconfined']]) == {'apparmor.profile': 'unconfined'}


@pytest.mark.parametrize('url, expected', [
    ('https://pve1.example.com:8006', ('pve1.example.com', 8006)),
    ('https://pve1.example.com:8006/api2/json/', ('pve1.example.com', 8006)),
    ('pve1.example.com:443', ('pve1.example.com', 443)),
    ('https://pve1.example.com', ('pve1.example.com', None)),
    ('https://[2001:db8::1]:8006', ('2001:db8::1', 8006)),
])
def test_split_url(url, expected):
    assert split_url(url) == expected


@pytest.mark.parametrize('url, message', [
    ('http://pve1:8006', 'https only'),
    ('https://pve1:8006/somewhere', 'not a path'),
    ('https://:8006', 'no host'),
])
def test_split_url_errors(url, message):
    with pytest.raises(AnsibleParserError, match=message):
        split_url(url)


def test_origin_rank_file_beats_environment_beats_default(monkeypatch):
    monkeypatch.setenv('PROXMOX_HOST', 'pve1')
    monkeypatch.delenv('PROXMOX_URL', raising=False)
    assert _origin_rank({'url': 'https://pve2'}, ('url',), 'PROXMOX_URL') == 2
    assert _origin_rank({}, ('api_host',), 'PROXMOX_HOST') == 1
    assert _origin_rank({}, ('url',), 'PROXMOX_URL') == 0


def test_guest_name_and_dns_name():
    unnamed = {'vmid': 100, 'type': 'qemu', 'name': 'VM 100'}  # what PVE lists for a VM without a name
    assert guest_name(unnamed) == 'VM100' and dns_name(unnamed) is None
    assert guest_name({'vmid': 101, 'type': 'lxc'}) == 'CT101'
    named = {'vmid': 102, 'type': 'qemu', 'name': 'web-1.example.com'}
    assert guest_name(named) == dns_name(named) == 'web-1.example.com'
