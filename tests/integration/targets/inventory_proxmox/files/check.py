# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ansible-inventory with pve.cloud.proxmox against pvesim (files/scenario.yml): hosts, groups, facts,
ansible_host sources, filters, naming, constructed options, cache, auth and errors, with the API calls
each run made, from pvesim's request log.

Run by runme.sh after setup_pvesim/pvesim-env.sh exported PROXMOX_* and PVESIM_*.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import urllib.request

OUT = os.environ['OUTPUT_DIR']
SIM = os.environ['PVESIM_URL']
SSL = ssl.create_default_context(cafile=os.environ['PROXMOX_CA_PATH'])
ALL_GUESTS = {'web1', 'web2', 'db1', 'web1_103', 'ct-static', 'ct-dhcp', 'ct-off', 'lost1'}
CHECKS = []


def check(func):
    CHECKS.append(func)
    return func


def admin(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(SIM + path, data=data, method=method, headers={'Content-Type': 'application/json'})
    with urllib.request.urlopen(req, context=SSL) as answer:  # noqa: S310 - our own simulator
        return json.load(answer)['data']


def unwrap(value):
    """ansible-inventory 2.19+ writes untrusted strings as {"__ansible_unsafe": ...}."""
    if isinstance(value, dict):
        if set(value) == {'__ansible_unsafe'}:
            return value['__ansible_unsafe']
        return dict((k, unwrap(v)) for k, v in value.items())
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


class Run(object):
    """One ansible-inventory --list: hostvars, group members, the API calls it made."""

    def __init__(self, name, config, args=(), env=None, unset=(), command='--list'):
        path = os.path.join(OUT, '%s.proxmox.yml' % name)
        with open(path, 'w') as fh:
            json.dump(dict(plugin='pve.cloud.proxmox', **config), fh, indent=2)
        environ = dict(os.environ, ANSIBLE_INVENTORY_ENABLED='pve.cloud.proxmox', ANSIBLE_INVENTORY_UNPARSED_FAILED='1',
                       ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED='1')
        for key in unset:
            environ.pop(key, None)
        environ.update(env or {})
        seq = admin('GET', '/_pvesim/counters')['seq']
        cmd = ['ansible-inventory', '-i', path, command] + list(args)
        self.proc = subprocess.run(cmd, env=environ, capture_output=True, text=True, check=False)
        self.calls = [(r['method'], r['path'], r.get('params') or {}) for r in admin('GET', '/_pvesim/requests?since=%d' % seq)]
        self.reads = [c for c in self.calls if c[0] == 'GET']
        self.logins = [c for c in self.calls if c[1] == '/access/ticket']
        self.output = self.proc.stdout
        self.error = ' '.join(self.proc.stderr.split())  # 2.16 wraps warnings
        if command == '--list' and self.proc.returncode == 0:
            data = unwrap(json.loads(self.proc.stdout))
            self.hostvars = data['_meta']['hostvars']
            self.data = data

    def ok(self):
        assert self.proc.returncode == 0, 'ansible-inventory failed:\n%s\n%s' % (self.proc.stdout, self.proc.stderr)
        return self

    def hosts(self, group='all'):
        """Every host below group (children included)."""
        found = set(self.data.get(group, {}).get('hosts', []))
        for child in self.data.get(group, {}).get('children', []):
            found |= self.hosts(child)
        return found

    def paths(self, suffix=''):
        return sorted(c[1] for c in self.reads if c[1].endswith(suffix))


@check
def env_only_token_one_call():
    """A file with only `plugin:`; everything else from PROXMOX_* (as AWX passes it): one API call."""
    run = Run('env_only', {}).ok()
    assert run.hosts() == ALL_GUESTS, run.hosts()
    assert [c[:2] for c in run.calls] == [('GET', '/cluster/resources')], run.calls
    assert run.calls[0][2].get('type') == 'vm', run.calls
    assert not run.logins

    # the default host_facts, nothing else
    assert run.hostvars['web1'] == dict(proxmox_vmid=100, proxmox_node='pve1', proxmox_type='qemu',
                                        proxmox_status='running', proxmox_tags=['web', 'prod'],
                                        proxmox_pool='prod'), run.hostvars['web1']
    assert run.hostvars['ct-static']['proxmox_type'] == 'lxc'
    # identifiers PVE validates are printed plainly (trusted, they hold no '{'), not as {"__ansible_unsafe": ...}
    assert '"proxmox_node": "pve1"' in run.output, run.output[:2000]

    groups = dict(proxmox_all_qemu={'web1', 'web2', 'db1', 'web1_103', 'lost1'},
                  proxmox_all_lxc={'ct-static', 'ct-dhcp', 'ct-off'},
                  proxmox_all_running={'web1', 'web2', 'ct-static', 'ct-dhcp'},
                  proxmox_all_stopped={'db1', 'web1_103', 'ct-off'}, proxmox_all_unknown={'lost1'},
                  proxmox_pve1={'web1', 'db1'}, proxmox_pve1_qemu={'web1', 'db1'},
                  proxmox_pve2_lxc={'ct-static'}, proxmox_pve_3={'web1_103', 'ct-dhcp', 'ct-off'},
                  proxmox_pve_3_lxc={'ct-dhcp', 'ct-off'},
                  proxmox_pool_prod={'web1', 'db1'}, proxmox_pool_dev={'ct-static', 'ct-dhcp'},
                  proxmox_tag_web={'web1', 'web2'}, proxmox_tag_db={'db1', 'ct-static'},
                  proxmox_tag_no_ansible={'ct-static'}, proxmox_tag_test_env={'ct-off'})
    for group, members in groups.items():
        assert run.hosts(group) == members, (group, run.hosts(group), members)
    assert 'proxmox_pve_3_qemu' in run.data['proxmox_pve_3']['children']
    assert 'tmpl-debian' not in run.hostvars
    assert 'both named web1' in run.error, run.error


@check
def all_host_facts_and_fewer_groups():
    """host_facts: [all] gives every cluster fact, community.proxmox's names included; group_by trims the groups."""
    run = Run('all_facts', dict(host_facts=['all'], group_by=['type'])).ok()
    web1 = dict(run.hostvars['web1'])
    assert isinstance(web1.pop('proxmox_maxdisk'), int), web1
    assert web1 == dict(
        proxmox_vmid=100, proxmox_name='web1', proxmox_node='pve1', proxmox_type='qemu', proxmox_vmtype='qemu',
        proxmox_status='running', proxmox_tags=['web', 'prod'], proxmox_tags_parsed=['web', 'prod'],
        proxmox_pool='prod', proxmox_template=False, proxmox_lock='', proxmox_hastate='', proxmox_cpus=2,
        proxmox_maxmem=2048 * 1024 ** 2), web1
    assert run.hosts() == ALL_GUESTS
    groups = set(g for g in run.data if g not in ('_meta', 'all', 'ungrouped'))
    assert groups == {'proxmox_all_qemu', 'proxmox_all_lxc'}, groups
    assert [c[:2] for c in run.calls] == [('GET', '/cluster/resources')], run.calls


@check
def config_and_addresses():
    """want_config + want_addresses: each ansible_host source, and no call a guest cannot answer."""
    admin('POST', '/_pvesim/guests/101/agent', {'ready': False})
    try:
        run = Run('addresses', dict(want_config=True, want_addresses=True)).ok()
    finally:
        admin('POST', '/_pvesim/guests/101/agent', {'ready': None})
    hv = run.hostvars
    dhcp = [int(x) for x in ('192', '168', '100')]
    sources = dict((h, (hv[h].get('ansible_host'), hv[h].get('proxmox_address_source'))) for h in hv)
    assert sources['web1'][1] == 'agent' and [int(x) for x in sources['web1'][0].split('.')[:3]] == dhcp, sources
    assert sources['web2'] == ('10.0.0.11', 'ipconfig'), sources  # agent configured but not answering
    assert sources['db1'] == ('10.0.0.12', 'ipconfig'), sources  # IPv4 before the IPv6 of ipconfig0
    assert sources['ct-static'] == ('10.0.1.20', 'lxc_net'), sources
    assert sources['ct-dhcp'][1] == 'lxc_interfaces' and sources['ct-dhcp'][0].startswith('192.168.100.'), sources
    assert sources['ct-off'] == ('ct-off', 'name'), sources
    # the DNS name "web1" is the other guest's: no ansible_host for the renamed duplicate
    assert sources['web1_103'] == (None, None), sources
    assert sources['lost1'] == ('lost1', 'name'), sources  # its node is offline: no call, no config
    assert 'proxmox_ipconfig0' not in hv['lost1'] and hv['lost1']['proxmox_status'] == 'unknown'

    agent = hv['web1']['proxmox_agent_interfaces']
    assert [i['name'] for i in agent] == ['lo', 'eth0'] and agent[1]['ip-addresses'][0].startswith('192.168.100.')
    assert hv['ct-dhcp']['proxmox_lxc_interfaces'][1]['inet'].startswith('192.168.100.')
    # configuration facts; property strings as dicts, the resource facts are not replaced
    assert hv['db1']['proxmox_cores'] == 4
    assert hv['db1']['proxmox_ipconfig0'] == {'ip': '10.0.0.12/24', 'ip6': '2001:db8::12/64'}, hv['db1']
    assert hv['ct-static']['proxmox_net0']['bridge'] == 'vmbr0'
    assert hv['web1']['proxmox_tags'] == ['web', 'prod'] and 'proxmox_digest' not in hv['web1']

    # 1 listing + 7 configs + the 2 running VMs with an agent + the 1 running container without a static IP
    assert len(run.reads) == 11, run.paths()
    assert run.paths('/config') == sorted('/nodes/%s/config' % p for p in (
        'pve1/qemu/100', 'pve2/qemu/101', 'pve1/qemu/102', 'pve-3/qemu/103', 'pve2/lxc/200', 'pve-3/lxc/201',
        'pve-3/lxc/202')), run.paths()
    assert run.paths('/network-get-interfaces') == ['/nodes/pve1/qemu/100/agent/network-get-interfaces',
                                                    '/nodes/pve2/qemu/101/agent/network-get-interfaces']
    assert [p for p in run.paths('/interfaces') if '/lxc/' in p] == ['/nodes/pve-3/lxc/201/interfaces'], run.paths()


@check
def address_order():
    """ansible_host_sources decides the order; a source that answers first saves the later calls."""
    run = Run('order', dict(want_addresses=True, ansible_host_sources=['ipconfig', 'lxc_net', 'name'], concurrency=1)).ok()
    hv = run.hostvars
    assert hv['web1']['ansible_host'] == 'web1' and hv['web2']['ansible_host'] == '10.0.0.11', hv['web2']
    assert not run.paths('interfaces'), run.paths()
    assert len(run.reads) == 1 + 7  # the configurations for ipconfig/net, nothing else


@check
def list_filters_before_any_guest_call():
    run = Run('filter_running_web', dict(types=['qemu'], statuses=['running'], names=['~^web'],
                                         want_config=True, concurrency=16)).ok()
    assert run.hosts() == {'web1', 'web2'}, run.hosts()
    assert run.paths('/config') == ['/nodes/pve1/qemu/100/config', '/nodes/pve2/qemu/101/config'], run.paths()

    run = Run('filter_pool', dict(nodes=['pve-*'], pools=['dev'], exclude_tags=['no-ansible'])).ok()
    assert run.hosts() == {'ct-dhcp'}, run.hosts()
    assert Run('filter_tags', dict(tags=['db'])).ok().hosts() == {'db1', 'ct-static'}
    assert Run('filter_glob', dict(names=['ct-*'], exclude_names=['*-off'])).ok().hosts() == {'ct-static', 'ct-dhcp'}

    run = Run('bad_regex', dict(names=['~web[']))
    assert run.proc.returncode != 0 and "names: '~web[' is not a valid regular expression" in run.error, run.error

    run = Run('templates', dict(include_templates=True, host_facts=['vmid', 'template'])).ok()
    assert run.hosts('proxmox_all_templates') == {'tmpl-debian'}
    assert 'tmpl-debian' not in run.hosts('proxmox_all_qemu') | run.hosts('proxmox_all_stopped')
    assert run.hostvars['tmpl-debian']['proxmox_template'] is True


@check
def jinja_filters_on_config_facts():
    run = Run('jinja_filter', dict(want_config=True, filters=['proxmox_cores >= 2', "proxmox_status == 'running'"])).ok()
    assert run.hosts() == {'web1', 'web2', 'ct-dhcp'}, run.hosts()
    run = Run('jinja_filter_bad', dict(filters=['proxmox_nonexistent > 1'])).ok()
    assert run.hosts() == ALL_GUESTS and 'proxmox_nonexistent' in run.error, run.error
    run = Run('jinja_filter_strict', dict(filters=['proxmox_nonexistent > 1'], strict=True))
    assert run.proc.returncode != 0 and 'proxmox_nonexistent' in run.error, run.error


@check
def naming_and_prefixes():
    run = Run('by_vmid', dict(hostname='vmid')).ok()
    assert run.hosts() == {'100', '101', '102', '103', '200', '201', '202', '300'}, run.hosts()
    run = Run('by_template', dict(hostname='{{ name }}.{{ node }}.example', facts_prefix='pve_', group_prefix='pve_')).ok()
    assert 'web1.pve1.example' in run.hosts() and 'web1.pve-3.example' in run.hosts(), run.hosts()
    assert run.hosts('pve_all_lxc') == {'ct-static.pve2.example', 'ct-dhcp.pve-3.example', 'ct-off.pve-3.example'}
    assert run.hostvars['db1.pve1.example']['pve_vmid'] == 102
    # the hostname template and the filters see facts that are not host variables (name, maxmem)
    run = Run('by_name_and_size', dict(hostname='{{ proxmox_name }}-{{ proxmox_maxmem // 1024 ** 2 }}',
                                       filters=['proxmox_vmtype == "qemu"'])).ok()
    assert 'web1-2048' in run.hosts() and 'ct-static' not in str(run.hosts()), run.hosts()


@check
def constructed_options():
    config = dict(
        want_config=True,
        compose=dict(ansible_user="'root' if proxmox_type == 'lxc' else 'debian'",
                     ansible_host="proxmox_ipconfig0.ip.split('/')[0] if proxmox_ipconfig0 is defined else proxmox_name"),
        groups=dict(big='proxmox_maxmem >= 2 * 1024 ** 3', dbs="'db' in proxmox_tags"),
        keyed_groups=[dict(key='proxmox_tags', prefix='role'), dict(key='proxmox_pool', prefix='pool', default_value='none'),
                      dict(key="proxmox_node | replace('-', '_')", prefix='on')],
    )
    run = Run('constructed', config).ok()
    # compose and groups used proxmox_name and proxmox_maxmem, which the default host_facts leave out
    assert 'proxmox_maxmem' not in run.hostvars['web1'] and 'proxmox_name' not in run.hostvars['web1']
    assert run.hosts('dbs') == {'db1', 'ct-static'}, run.hosts('dbs')
    assert run.hosts('big') == {'web1'}, run.hosts('big')
    assert run.hosts('role_web') == {'web1', 'web2'} and run.hosts('role_no_ansible') == {'ct-static'}
    assert run.hosts('pool_none') == {'web2', 'web1_103', 'ct-off', 'lost1'}, run.hosts('pool_none')
    assert run.hosts('on_pve_3') == {'web1_103', 'ct-dhcp', 'ct-off'}
    assert run.hostvars['db1']['ansible_host'] == '10.0.0.12' and run.hostvars['ct-off']['ansible_user'] == 'root'
    # composed values through Ansible itself (ansible-inventory may wrap them)
    path = os.path.join(OUT, 'constructed.proxmox.yml')
    debug = subprocess.run(['ansible', '-i', path, 'db1:ct-static', '-m', 'ansible.builtin.debug', '-a',
                            'msg={{ ansible_user }}@{{ ansible_host | default(inventory_hostname) }}'],
                           capture_output=True, text=True, check=True).stdout
    assert '"debian@10.0.0.12"' in debug and '"root@ct-static"' in debug, debug


@check
def cache_second_run_makes_no_call():
    cache_dir = os.path.join(OUT, 'inventory-cache')
    shutil.rmtree(cache_dir, ignore_errors=True)
    config = dict(want_config=True, want_addresses=True, cache=True, cache_plugin='ansible.builtin.jsonfile',
                  cache_connection=cache_dir, cache_timeout=600)
    first = Run('cached', config).ok()
    assert len(first.reads) == 11, first.paths()
    second = Run('cached', config).ok()
    assert second.calls == [], second.calls
    assert second.hostvars == first.hostvars

    # meta: refresh_inventory reads the cluster again (the start of the play still uses the cache)
    playbook = os.path.join(OUT, 'refresh.yml')
    with open(playbook, 'w') as fh:
        json.dump([dict(hosts='localhost', gather_facts=False, tasks=[{'meta': 'refresh_inventory'}])], fh)
    seq = admin('GET', '/_pvesim/counters')['seq']
    subprocess.run(['ansible-playbook', '-i', os.path.join(OUT, 'cached.proxmox.yml'), playbook], check=True,
                   capture_output=True)
    assert len(admin('GET', '/_pvesim/requests?since=%d' % seq)) == 11
    # different read options: the cached data is not used
    assert len(Run('cached', dict(config, want_addresses=False)).ok().reads) == 8


REFRESH = r"""
import gc, sys, weakref
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
init_plugin_loader()
manager = InventoryManager(loader=DataLoader(), sources=[sys.argv[1]])
old = weakref.ref(manager.get_host('web1'))
frozen = gc.get_freeze_count()
manager.refresh_inventory()
gc.collect()
print(frozen, manager.get_host('web1') is not None, old() is None)
"""


@check
def refresh_lets_the_old_inventory_go():
    """The plugin freezes what the process holds after a parse (gc.freeze: later collections skip it); the next
    parse must unfreeze it, or each refresh_inventory would keep the replaced hosts and groups for good."""
    path = os.path.join(OUT, 'refresh.proxmox.yml')
    with open(path, 'w') as fh:
        json.dump(dict(plugin='pve.cloud.proxmox'), fh)
    env = dict(os.environ, ANSIBLE_INVENTORY_ENABLED='pve.cloud.proxmox')
    out = subprocess.run([sys.executable, '-c', REFRESH, path], env=env, capture_output=True, text=True, check=True)
    frozen, refreshed, freed = out.stdout.split()
    assert int(frozen) > 0 and refreshed == 'True', out.stdout
    assert freed == 'True', 'the hosts of the replaced inventory are still alive after a refresh: %s' % out.stdout


@check
def password_url_and_old_names():
    """community.proxmox's option names: url, user, password (a template), with a password login."""
    config = dict(url=SIM, user=os.environ['PVESIM_USER'], password="{{ lookup('env', 'PVESIM_PASSWORD') }}",
                  cache=True, cache_plugin='ansible.builtin.jsonfile',
                  cache_connection=os.path.join(OUT, 'inventory-cache-password'))
    config['want_proxmox_nodes_ansible_host'] = False  # community.proxmox has it; ignored with a warning
    # the file's url wins over PROXMOX_HOST from the environment
    run = Run('password', config, unset=('PROXMOX_PORT', 'PROXMOX_TOKEN_ID', 'PROXMOX_TOKEN_SECRET'),
              env=dict(PROXMOX_HOST='pve.invalid')).ok()
    assert run.hosts() == ALL_GUESTS
    assert 'unknown option(s) ignored: want_proxmox_nodes_ansible_host' in run.error, run.error
    assert len(run.logins) == 1 and len(run.reads) == 1, run.calls
    again = Run('password', config, unset=('PROXMOX_HOST', 'PROXMOX_PORT', 'PROXMOX_TOKEN_ID', 'PROXMOX_TOKEN_SECRET'))
    assert again.ok().calls == [], again.calls  # cached: not even a login


@check
def transient_errors_are_retried_and_one_bad_guest_is_kept():
    faults = [
        dict(path='^/cluster/resources$', kind='reset', count=1),
        dict(path='^/nodes/pve1/qemu/100/config$', kind='status', status=503, count=2),
        dict(path='^/nodes/pve1/qemu/102/config$', kind='status', status=500, message='boom', count=None),
    ]
    for fault in faults:
        admin('POST', '/_pvesim/faults', fault)
    try:
        run = Run('faults', dict(want_config=True)).ok()
    finally:
        admin('DELETE', '/_pvesim/faults')
    assert run.hosts() == ALL_GUESTS
    assert run.paths().count('/cluster/resources') == 2 and run.paths().count('/nodes/pve1/qemu/100/config') == 3
    assert run.hostvars['web1']['proxmox_cores'] == 2
    # a guest whose configuration fails for good is kept with the cluster facts and the error
    assert 'boom' in run.hostvars['db1']['proxmox_facts_error'] and 'proxmox_cores' not in run.hostvars['db1']
    assert 'db1 (qemu 102): only cluster facts' in run.error, run.error


@check
def offline_node_guests_cost_no_call():
    admin('POST', '/_pvesim/faults', dict(kind='node_offline', node='pve2', count=None))
    try:
        run = Run('offline', dict(want_config=True, want_addresses=True)).ok()
    finally:
        admin('DELETE', '/_pvesim/faults')
    assert run.hosts('proxmox_all_unknown') == {'web2', 'ct-static', 'lost1'}, run.hosts('proxmox_all_unknown')
    assert not [p for p in run.paths() if p.startswith('/nodes/pve2/')], run.paths()


@check
def bad_credentials_are_named():
    run = Run('bad_token', {}, env=dict(PROXMOX_TOKEN_SECRET='00000000-0000-0000-0000-000000000000'))
    assert run.proc.returncode != 0
    assert 'authentication failed' in run.error and "root@pam!pvesim" in run.error, run.error
    assert 'https://127.0.0.1:%s' % os.environ['PROXMOX_PORT'] in run.error, run.error

    run = Run('bad_password', dict(api_user='root@pam', api_password='wrong'),
              unset=('PROXMOX_TOKEN_ID', 'PROXMOX_TOKEN_SECRET'))
    assert run.proc.returncode != 0 and 'authentication failed' in run.error, run.error
    assert 'https://127.0.0.1:%s' % os.environ['PROXMOX_PORT'] in run.error, run.error


@check
def unreachable_url_is_named():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    run = Run('unreachable', dict(api_port=port, api_timeout=2))
    assert run.proc.returncode != 0
    assert 'could not connect' in run.error and 'https://127.0.0.1:%d' % port in run.error, run.error


@check
def wrong_ca_is_a_tls_error():
    run = Run('wrong_ca', {}, env=dict(PROXMOX_CA_PATH=os.environ['REQUESTS_CA_BUNDLE']))
    assert run.proc.returncode != 0 and 'TLS certificate' in run.error, run.error


def main():
    wanted = sys.argv[1:]
    for func in CHECKS:
        if wanted and func.__name__ not in wanted:
            continue
        print('--- %s' % func.__name__, flush=True)
        func()
    print('all inventory checks passed')


if __name__ == '__main__':
    main()
