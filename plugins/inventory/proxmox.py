# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
name: proxmox
short_description: Every VM and container of a Proxmox VE cluster as hosts, fast
description:
  - Makes every QEMU VM and LXC container of a Proxmox VE cluster an Ansible host, with facts and groups.
  - The whole cluster is listed with B(one) call to C(/cluster/resources?type=vm), which already carries status, tags,
    pool, template, lock, HA state and sizes. Per-guest calls (configuration, guest agent, container
    interfaces) are made only when O(want_config) or O(want_addresses) ask for them, only for the guests that pass
    the filters, and concurrently (O(concurrency)).
  - The inventory source is a YAML file whose name ends in C(proxmox.yml) or C(proxmox.yaml). An option this plugin
    does not know (a typo such as C(want_confg)) fails the inventory, unless the file sets O(strict=false); options of
    community.proxmox that have no equivalent here are ignored with a warning.
  - Every connection option also reads the E(PROXMOX_*) environment variable the pve.cloud modules read, so an AWX or
    AAP inventory source needs no credentials in the file (AWX passes no extra vars to inventory syncs, only
    environment variables from credentials).
  - Facts from the cluster listing, all under O(facts_prefix) (V(proxmox_) by default); C(vmid), C(name), C(node),
    C(type) (also as C(vmtype), the name community.proxmox uses), C(status), C(tags) (a list, also as C(tags_parsed)),
    C(pool), C(template) (bool), C(lock), C(hastate), C(cpus), C(maxmem) and C(maxdisk) (bytes). C(pool), C(lock) and
    C(hastate) are an empty string for a guest outside any pool, not locked, or not HA-managed.
  - All of them can be used in O(compose), O(groups), O(keyed_groups), O(filters) and O(hostname); only those named in
    O(host_facts) (by default C(vmid), C(node), C(type), C(status), C(tags) and C(pool)) become host variables
    that plays see; the name is the host's C(inventory_hostname) already. Every host variable costs memory and time for
    every guest (about 0.5 to 1 kB each in C(ansible-inventory --list)), which adds up at 10,000 guests.
  - With O(want_config), every key of the guest's configuration as C(<prefix><key>); property strings whose every
    part is C(key=value) become dictionaries (C(proxmox_net0.bridge), C(proxmox_ipconfig0.ip)) and disks keep the
    volume under C(disk_image), as community.proxmox does. Configuration keys that repeat a fact above
    (C(name), C(tags), C(template), C(lock)) do not replace it; C(digest) is left out.
  - With O(want_addresses), C(ansible_host), the source it came from as C(<prefix>address_source), and the
    interfaces that were read as C(<prefix>agent_interfaces) (QEMU guest agent) and C(<prefix>lxc_interfaces).
  - Groups, all under O(group_prefix) (V(proxmox_) by default), each kind only when O(group_by) names it (all do by
    default); C(all_qemu), C(all_lxc) (V(type)), C(all_running), C(all_stopped) (one C(all_<status>) per status,
    V(status)), C(<node>) with children C(<node>_qemu) and C(<node>_lxc) (V(node)), C(pool_<pool>) (V(pool)) and
    C(tag_<tag>) (V(tag)); C(all_templates) only with O(include_templates). Names are lowercased
    and every character other than a letter, digit or underscore becomes C(_) (C(pve-1) gives C(proxmox_pve_1_qemu),
    the nested pool C(prod/web) gives C(proxmox_pool_prod_web)). Templates are only in C(all_templates) (and in the
    groups of O(groups) and O(keyed_groups)), so that plays on the other groups never touch them.
author:
  - pve.cloud developers (@pve-cloud)
extends_documentation_fragment:
  - constructed
  - inventory_cache
options:
  plugin:
    description: Marks the file as a source for this plugin.
    required: true
    choices: ['pve.cloud.proxmox']
    type: str
  api_host:
    description:
      - Name or address of a Proxmox VE node that serves the API (any node of the cluster).
      - Either this or O(url) is required.
    type: str
    env:
      - name: PROXMOX_HOST
  api_port:
    description: Port of the API.
    type: int
    default: 8006
    env:
      - name: PROXMOX_PORT
  url:
    description:
      - The API address as a URL, C(https://pve1.example.com:8006), the option community.proxmox inventories use.
        Host and port are taken from it; a URL without scheme means https, and C(/api2/json) at the end is accepted.
      - Only https is supported (Proxmox VE serves its API over https only).
      - When both O(url) and O(api_host) are set, the one set in the file wins over the one from the environment; when
        both come from the same place, O(url) wins.
    type: str
    env:
      - name: PROXMOX_URL
  api_user:
    description:
      - User to log in as, C(user@realm), for example V(root@pam).
      - Required with O(api_password), and with O(api_token_id) when the token id has no user part.
    type: str
    aliases: [user]
    env:
      - name: PROXMOX_USER
  api_password:
    description:
      - Password of O(api_user). A ticket is requested with it (one extra API call).
      - Use O(api_token_id) and O(api_token_secret) instead where you can.
    type: str
    aliases: [password]
    env:
      - name: PROXMOX_PASSWORD
  api_token_id:
    description:
      - API token id, either the full C(user@realm!tokenid) or only C(tokenid) together with O(api_user).
      - The token needs C(VM.Audit) on the guests (C(/vms) or C(/pool/<pool>)), and for O(want_addresses) also
        C(VM.GuestAgent.Audit) (PVE 9) or C(VM.Monitor) (PVE 8). A privilege-separated token needs its own ACL.
    type: str
    aliases: [token_id]
    env:
      - name: PROXMOX_TOKEN_ID
  api_token_secret:
    description: Secret (UUID) of the API token O(api_token_id).
    type: str
    aliases: [token_secret]
    env:
      - name: PROXMOX_TOKEN_SECRET
  validate_certs:
    description:
      - Verify the TLS certificate of the API. Keep it on; use O(ca_path) for a private CA.
    type: bool
    default: true
    env:
      - name: PROXMOX_VALIDATE_CERTS
  ca_path:
    description:
      - PEM file with the CA certificate(s) that signed the API's certificate, for example a copy of the cluster's
        C(/etc/pve/pve-root-ca.pem). Takes precedence over E(REQUESTS_CA_BUNDLE).
    type: path
    env:
      - name: PROXMOX_CA_PATH
  api_timeout:
    description: Seconds to wait for the answer to one HTTP request.
    type: int
    default: 30
    env:
      - name: PROXMOX_API_TIMEOUT
  want_config:
    description:
      - Read the configuration of every guest that passes the filters (one call per guest) and add its keys as facts.
      - V(want_facts) is accepted as an alias for files written for community.proxmox (whose snapshots and extended
        status are not read).
    type: bool
    default: false
    aliases: [want_facts]
  want_addresses:
    description:
      - Find an address for every guest and set C(ansible_host) to it, trying O(ansible_host_sources) in order.
      - A guest for which no source gives an address gets no C(ansible_host); Ansible then connects to its inventory
        name.
      - O(compose) runs afterwards, so C(compose.ansible_host) still wins.
    type: bool
    default: false
  ansible_host_sources:
    description:
      - Where O(want_addresses) looks for a guest's address, first answer wins.
      - V(agent), the QEMU guest agent (C(agent/network-get-interfaces)), asked only for running VMs whose
        configuration enables the agent; a VM whose agent does not answer falls through to the next source.
      - V(ipconfig), the static C(ip)/C(ip6) of the VM's cloud-init C(ipconfigN) (V(dhcp) and V(auto) are skipped).
      - V(lxc_net), the static C(ip)/C(ip6) of the container's C(netN).
      - V(lxc_interfaces), the addresses a running container reports (C(/interfaces)).
      - V(name), the guest name, for guests whose name resolves in DNS (not for a VM without a name, which PVE
        lists as C(VM 100), nor for the second of two guests with the same name).
      - From interfaces, the first address that is not loopback, link-local or unspecified is taken, IPv4 before
        IPv6. Sources that need the guest configuration (V(agent), V(ipconfig), V(lxc_net)) read it once per guest.
    type: list
    elements: str
    choices: [agent, ipconfig, lxc_net, lxc_interfaces, name]
    default: [agent, ipconfig, lxc_net, lxc_interfaces, name]
  concurrency:
    description:
      - How many per-guest API calls run at the same time. V(1) makes them one after another.
    type: int
    default: 8
    aliases: [facts_concurrency]
  hostname:
    description:
      - How hosts are named. V(name) (the guest name), V(vmid), or a Jinja2 template such as
        V({{ name }}.{{ node }}.example.com).
      - The template sees these fields of C(/cluster/resources) - C(id), C(vmid), C(name), C(node), C(type),
        C(status), C(tags) (a list), C(pool), C(template), C(lock), C(hastate), C(maxcpu), C(maxmem), C(maxdisk) - and
        every fact.
      - Two guests that end up with the same name are both kept; the one with the higher VMID is named
        C(<name>_<vmid>) and a warning says so. A VM without a name (PVE lists it as C(VM 100)) is named
        C(VM100).
    type: str
    default: name
  host_facts:
    description:
      - Which facts from the cluster listing become host variables (with O(facts_prefix)); V(all) for every one.
      - Whatever this says, all of them are available to O(compose), O(groups), O(keyed_groups), O(filters) and
        O(hostname), so C(keyed_groups) on C(proxmox_vmtype) or C(groups) on C(proxmox_maxmem) work without them.
      - The configuration facts of O(want_config) and the address facts of O(want_addresses) are host variables
        whenever those options are on.
    type: list
    elements: str
    choices: [all, vmid, name, node, type, vmtype, status, tags, tags_parsed, pool, template, lock, hastate, cpus, maxmem,
              maxdisk]
    default: [vmid, node, type, status, tags, pool]
  group_by:
    description:
      - Which kinds of groups are made; see the description for their names. V(type) gives C(all_qemu) and C(all_lxc),
        V(status) C(all_<status>), V(node) C(<node>), C(<node>_qemu) and C(<node>_lxc), V(pool) C(pool_<pool>), V(tag)
        C(tag_<tag>). An empty list makes none (besides C(all_templates) with O(include_templates)), for example when
        O(keyed_groups) make the groups you want.
    type: list
    elements: str
    choices: [type, status, node, pool, tag]
    default: [type, status, node, pool, tag]
  facts_prefix:
    description: Prefix of the facts' names.
    type: str
    default: proxmox_
  group_prefix:
    description: Prefix of the groups' names.
    type: str
    default: proxmox_
  nodes:
    description:
      - Only guests on these nodes. Each entry is a shell-style pattern (V(pve*)), or a regular expression after a
        C(~) (V(~^pve[0-9]+$)), searched anywhere in the value unless anchored.
      - This and the other list filters below run on the cluster listing, before any per-guest call.
    type: list
    elements: str
    default: []
  types:
    description: Only guests of these types.
    type: list
    elements: str
    choices: [qemu, lxc]
    default: []
  statuses:
    description: Only guests in these states, for example V(running).
    type: list
    elements: str
    default: []
  pools:
    description: Only guests in a pool matching one of these patterns (see O(nodes) for the pattern forms).
    type: list
    elements: str
    default: []
  tags:
    description: Only guests with at least one tag matching one of these patterns.
    type: list
    elements: str
    default: []
  exclude_tags:
    description: Leave out guests with a tag matching one of these patterns, for example V(no-ansible).
    type: list
    elements: str
    default: []
  names:
    description: Only guests whose name matches one of these patterns.
    type: list
    elements: str
    default: []
  exclude_names:
    description: Leave out guests whose name matches one of these patterns.
    type: list
    elements: str
    default: []
  include_templates:
    description: Include templates (in the C(all_templates) group only). They are left out by default.
    type: bool
    default: false
  filters:
    description:
      - Jinja2 conditions on the facts (and C(ansible_host) of O(want_addresses)); a guest is kept only when all of
        them are true.
      - They run after the per-guest calls, so they can use the facts of O(want_config). To avoid per-guest calls
        for guests you do not want, filter with O(nodes), O(types), O(statuses), O(pools), O(tags), O(names) first.
      - A condition that fails to evaluate keeps the guest and warns once, or fails the inventory with O(strict).
    type: list
    elements: str
    default: []
notes:
  - 'API calls: without O(want_config) and O(want_addresses) the whole cluster costs one call (plus the ticket
    request when logging in with a password). With both, at most 1 + (guests) + (running VMs with the agent
    enabled) calls.'
  - 'With O(cache), a second run within O(cache_timeout) makes no API call at all, and does not log in.
    C(meta: refresh_inventory) and C(ansible-inventory --flush-cache) read the cluster again. The cached data is
    only used when the options that decide what is read (address, user or token, filters, want_* options) are
    unchanged.'
  - Reads are retried with back-off on connection errors and HTTP 502/503/504/595; an unreachable API or refused
    credentials fail the inventory with the URL and the cause.
  - A guest whose configuration cannot be read (deleted during the run, no permission) is kept with the cluster
    facts, a C(<prefix>facts_error) fact, and a warning.
  - Guests on an offline node (status C(unknown)) are kept with the cluster facts only; no per-guest call is made
    for them, since their node cannot answer.
  - At C(-vvv) every API call (method, path, status, duration) is shown.
  - The plugin needs no Python library besides ansible-core and the standard library; its API calls go over one
    keep-alive C(http.client) connection per worker thread.
seealso:
  - name: Proxmox VE API, /cluster/resources
    description: The one call that lists the cluster.
    link: https://pve.proxmox.com/pve-docs/api-viewer/#/cluster/resources
  - module: pve.cloud.qemu
  - module: pve.cloud.qemu_info
'''

EXAMPLES = r'''
# Each block is one inventory file (its name must end in proxmox.yml or proxmox.yaml). The first is live
# YAML; the others are commented out so this text stays one valid YAML document.

# cloud.proxmox.yml: credentials from the environment only (PROXMOX_HOST, PROXMOX_TOKEN_ID,
# PROXMOX_TOKEN_SECRET, PROXMOX_CA_PATH), one API call for the whole cluster.
plugin: pve.cloud.proxmox

# An explicit address and an API token; the secret from the environment or Ansible Vault.
# plugin: pve.cloud.proxmox
# url: https://pve1.example.com:8006
# token_id: inventory@pve!ansible
# ca_path: /etc/ansible/pve-root-ca.pem

# Addresses: ansible_host from the guest agent, else the cloud-init or container IP, else the name.
# plugin: pve.cloud.proxmox
# want_addresses: true
# only running production guests, without calling the API for the others
# statuses: [running]
# pools: [prod]
# exclude_tags: [no-ansible]

# Configuration facts, compose and keyed groups (existing community.proxmox keyed_groups keep working).
# plugin: pve.cloud.proxmox
# want_config: true
# compose:
#   # the static cloud-init or container address, else the name; no agent call at all
#   ansible_host: proxmox_ipconfig0.ip | default(proxmox_net0.ip) | default(proxmox_name) | regex_replace('/.*$', '')
#   ansible_user: "'debian' if proxmox_type == 'qemu' else 'root'"
# keyed_groups:
#   - key: proxmox_tags
#     prefix: role
#   - key: proxmox_ostype
#     prefix: os
#     default_value: unknown
# groups:
#   webservers: "'web' in proxmox_tags"
#   big: proxmox_maxmem > 8 * 1024 ** 3
# filters:
#   - proxmox_onboot | default(0) | int == 1

# Hosts named by node and VMID, cached for an hour (a second run within the hour makes no API call).
# plugin: pve.cloud.proxmox
# hostname: "{{ node }}-{{ vmid }}"
# cache: true
# cache_plugin: ansible.builtin.jsonfile
# cache_connection: ~/.cache/pve-cloud-inventory
# cache_timeout: 3600

# AWX / AAP: commit a file like this one (for example inventories/cloud.proxmox.yml) to the project, create an
# inventory source "Sourced from a Project" pointing at it, and attach a custom credential whose injector sets
# the environment:
#   env:
#     PROXMOX_HOST: '{{ host }}'
#     PROXMOX_TOKEN_ID: '{{ token_id }}'
#     PROXMOX_TOKEN_SECRET: '{{ token_secret }}'
# The execution environment needs the pve.cloud collection and the requests and proxmoxer Python libraries.
# plugin: pve.cloud.proxmox
# want_addresses: true
# concurrency: 16
'''

import difflib
import fnmatch
import gc
import hashlib
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.display import Display

from ansible_collections.pve.cloud.plugins.module_utils.api import PVEClient, PVEError
from ansible_collections.pve.cloud.plugins.module_utils.addresses import interface_addresses, pick_address
from ansible_collections.pve.cloud.plugins.module_utils.propstring import split_tags

try:
    # ansible-core 2.19+ never templates data that was not marked as trusted: API data needs no wrapping.
    from ansible.template import trust_as_template
    wrap_var = None
except ImportError:
    # before 2.19 a string with {{ }} from a guest's description would be templated: mark API data unsafe.
    from ansible.utils.unsafe_proxy import wrap_var
    trust_as_template = None

display = Display()

CONFIG_SOURCES = frozenset(('agent', 'ipconfig', 'lxc_net'))
# A broken connection or refused credentials make every further call fail the same way: stop at once.
FATAL_KINDS = frozenset(('connection', 'auth', 'tls', 'config'))
DISK_KEY = re.compile(r'^(?:(?:ide|sata|scsi|virtio|efidisk|tpmstate|unused|mp)\d+|rootfs)$')
WHITESPACE = re.compile(r'\s+')
DNS_NAME = re.compile(r'^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$')
UNSAFE_GROUP_CHARS = re.compile(r'[^a-z0-9_]')
PATTERN_OPTIONS = ('nodes', 'pools', 'tags', 'exclude_tags', 'names', 'exclude_names')
# The /cluster/resources fields the plugin uses; the rest (usage counters) is dropped before caching.
RESOURCE_FIELDS = ('id', 'vmid', 'name', 'node', 'type', 'status', 'tags', 'pool', 'template', 'lock', 'hastate',
                   'maxcpu', 'maxmem', 'maxdisk')
RESOURCE_FACTS = ('vmid', 'name', 'node', 'type', 'vmtype', 'status', 'tags', 'tags_parsed', 'pool', 'template', 'lock',
                  'hastate', 'cpus', 'maxmem', 'maxdisk')
# Host variables whose values repeat across guests (node, status, sizes...) are stored once and shared; these never do.
UNIQUE_FACTS = frozenset(('vmid', 'name'))
# The aliases in DOCUMENTATION (Ansible accepts them; only the unknown-option warning needs the list).
OPTION_ALIASES = ('user', 'password', 'token_id', 'token_secret', 'want_facts', 'facts_concurrency')
# community.proxmox inventory options without an equivalent here: a file written for it still loads
PEER_ONLY_OPTIONS = ('want_proxmox_nodes_ansible_host', 'qemu_extended_statuses', 'exclude_nodes')


# -- pure helpers (unit tested) -------------------------------------------------------------------

def sanitize_group_name(name):
    """community.proxmox's rule: lowercase, every character but letters, digits and _ becomes _."""
    return UNSAFE_GROUP_CHARS.sub('_', str(name).lower())


def match_any(value, patterns):
    """True when value matches one of the patterns: shell-style globs, or regular expressions after '~'."""
    if value is None:
        return False
    value = str(value)
    for pattern in patterns:
        if pattern.startswith('~'):
            if re.search(pattern[1:], value):
                return True
        elif fnmatch.fnmatchcase(value, pattern):
            return True
    return False


def guest_name(resource):
    """The guest's name as a host name; PVE lists a VM without a name as 'VM 100' (with a space)."""
    name = WHITESPACE.sub('', str(resource.get('name') or ''))
    return name or '%s%s' % ('CT' if resource.get('type') == 'lxc' else 'VM', resource.get('vmid'))


def dns_name(resource):
    """The guest's name when it can be a DNS name (PVE's 'VM 100' placeholder cannot), else None."""
    name = resource.get('name')
    return name if isinstance(name, str) and DNS_NAME.match(name) else None


def parse_property_string(value):
    """'ip=10.0.0.5/24,gw=10.0.0.1' -> dict; a leading part without '=' is kept under the key ''."""
    result = {}
    for part in str(value).split(','):
        key, sep, val = part.partition('=')
        if sep:
            result[key.strip()] = val
        elif part:
            result[''] = part
    return result


def agent_enabled(config):
    """The `agent` option: '1', 1, 'enabled=1,fstrim_cloned_disks=1', 'enabled=0' ..."""
    value = (config or {}).get('agent')
    if value is None:
        return False
    props = parse_property_string(value)
    enabled = props.get('enabled', props.get(''))
    return str(enabled).strip().lower() in ('1', 'yes', 'on', 'true')


def static_address(config, prefix):
    """The static address of the first ipconfigN (prefix 'ipconfig') or netN (prefix 'net') that has one."""
    keys = sorted((k for k in (config or {}) if re.match(r'^%s\d+$' % prefix, k)), key=lambda k: int(k[len(prefix):]))
    v4, v6 = [], []
    for key in keys:
        props = parse_property_string(config[key])
        if props.get('ip') and props['ip'] not in ('dhcp', 'manual'):
            v4.append(props['ip'])
        if props.get('ip6') and props['ip6'] not in ('dhcp', 'auto', 'manual'):
            v6.append(props['ip6'])
    return pick_address(v4 + v6)


def agent_interfaces(answer):
    """The agent's network-get-interfaces answer in community.proxmox's fact form, or None for an agent error."""
    result = answer.get('result') if isinstance(answer, dict) else answer
    if not isinstance(result, list):
        return None
    return [dict(name=iface.get('name'), **{
        'mac-address': iface.get('hardware-address', ''),
        'ip-addresses': ['%s/%s' % (ip.get('ip-address'), ip.get('prefix')) for ip in iface.get('ip-addresses') or []
                         if isinstance(ip, dict)],
    }) for iface in result if isinstance(iface, dict)]


def config_value(key, value):
    """A configuration value as a fact: property strings of key=value parts become dicts."""
    if key == 'lxc' and isinstance(value, list):
        # raw lxc.* lines come as [key, value] pairs
        return dict((str(k)[4:] if str(k).startswith('lxc.') else k, v) for k, v in value)
    if not isinstance(value, str) or key == 'description':
        return value
    if DISK_KEY.match(key):
        props = parse_property_string(value)
        if '' in props:
            props['disk_image'] = props.pop('')
        return props
    parts = value.split(',')
    if all('=' in part for part in parts):
        return dict(part.split('=', 1) for part in parts)
    return value


def resource_facts(resource):
    """The facts one /cluster/resources entry gives, without prefix."""
    tags = split_tags(resource.get('tags'))
    return dict(
        vmid=int(resource['vmid']),
        name=resource.get('name'),
        node=resource.get('node'),
        type=resource.get('type'),
        vmtype=resource.get('type'),
        status=resource.get('status'),
        tags=tags,
        tags_parsed=list(tags),
        # '' rather than None: keyed_groups' default_value applies to '' on every ansible-core version
        pool=resource.get('pool') or '',
        template=bool(int(resource.get('template') or 0)),
        lock=resource.get('lock') or '',
        hastate=resource.get('hastate') or '',
        cpus=resource.get('maxcpu'),
        maxmem=resource.get('maxmem'),
        maxdisk=resource.get('maxdisk'),
    )


def untrusted(value):
    """API data as a host variable: never templated (before 2.19 that takes wrap_var; from 2.19 on it is the default)."""
    return wrap_var(value) if wrap_var else value


def identifier(value):
    """A name PVE validates (node, status, pool, tag...) as a host variable value.

    Without a '{' a string cannot hold a Jinja2 expression, so templating it is a no-op and it needs no protection:
    marked trusted (2.19+) or left plain (before), ansible-inventory prints it as a string instead of as an
    {"__ansible_unsafe": ...} mapping, which makes the output of a large cluster about 40% smaller and faster to write.
    Anything with a '{' stays untrusted.
    """
    if isinstance(value, list):
        return [identifier(v) for v in value]
    if not isinstance(value, str):
        return value
    if '{' in value:
        return untrusted(value)
    return trust_as_template(value) if trust_as_template else value


def _shared_value(shared, key, value, convert):
    """The one converted object for this value of this variable (see InventoryModule._set_host_vars)."""
    cache_key = (key, type(value), value)
    stored = shared.get(cache_key)
    if stored is None:
        stored = shared[cache_key] = convert(value)
    return stored


def split_url(url):
    """(host, port) of an https URL such as https://pve1:8006 or pve1:8006/api2/json."""
    text = url.strip()
    if '://' not in text:
        text = 'https://' + text
    parts = urlsplit(text)
    if parts.scheme.lower() != 'https':
        raise AnsibleParserError("url '%s': Proxmox VE serves its API over https only; use https://%s"
                                 % (url, text.split('://', 1)[1]))
    if parts.path.rstrip('/') not in ('', '/api2/json'):
        raise AnsibleParserError("url '%s': expected https://HOST[:PORT], not a path (%s)" % (url, parts.path))
    try:
        port = parts.port
    except ValueError as err:
        raise AnsibleParserError("url '%s': %s" % (url, err))
    if not parts.hostname:
        raise AnsibleParserError("url '%s' has no host name" % url)
    return parts.hostname, port


def _origin_rank(config, names, env_var):
    """2 when the inventory file sets the option, 1 when only the environment does, else 0."""
    if any(name in config for name in names):
        return 2
    return 1 if os.environ.get(env_var) else 0


# -- the plugin -----------------------------------------------------------------------------------

class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):

    NAME = 'pve.cloud.proxmox'

    def verify_file(self, path):
        if not super(InventoryModule, self).verify_file(path):
            return False
        if path.endswith(('proxmox.yml', 'proxmox.yaml')):
            return True
        self.display.vvv('pve.cloud.proxmox: skipping %s, the file name does not end in proxmox.yml or proxmox.yaml'
                         % path)
        return False

    def parse(self, inventory, loader, path, cache=True):
        # an earlier parse froze what the process held (see the end); after a refresh_inventory the inventory it
        # built is garbage, to be collected before the next freeze
        refreshed = gc.get_freeze_count() > 0
        gc.unfreeze()
        super(InventoryModule, self).parse(inventory, loader, path)
        config = self._read_config_data(path)
        self._warn_unknown_options(config, path)
        self._setup(config)

        cache_key = self.get_cache_key(path)
        use_cache = self.get_option('cache') and cache
        update_cache = self.get_option('cache') and not cache
        data = None
        if use_cache:
            try:
                cached = self._cache[cache_key]
            except KeyError:
                cached = None
            if isinstance(cached, dict) and cached.get('fingerprint') == self._fingerprint:
                data = cached
            else:
                update_cache = True
        if data is None:
            data = self._read_cluster()
        if update_cache:
            self._cache[cache_key] = data
        self._populate(data)
        # What the process holds now (ansible-core, the inventory just built) lives until it exits. Out of the cyclic
        # collector's reach, it is not walked again by each collection that ansible-core's per-host work sets off (the
        # host variables and JSON of --list make a great many short-lived objects) nor at exit: 0.2 s of 1.5 s at 2,000
        # guests. Python advises the same before forking workers, which ansible-playbook does.
        if refreshed:
            gc.collect()
        gc.freeze()

    # -- options ----------------------------------------------------------------------------------

    def _warn_unknown_options(self, config, path):
        """Ansible ignores unknown keys silently; files written for community.proxmox may carry some."""
        known = set(self._options) | set(OPTION_ALIASES) | set(['plugin'])
        unknown = sorted(str(key) for key in config if key not in known)
        typos = [key for key in unknown if key not in PEER_ONLY_OPTIONS]
        if typos and config.get('strict') is not False:
            hints = ['%s (did you mean %s?)' % (key, ' or '.join(close)) if close else key
                     for key, close in ((key, difflib.get_close_matches(key, sorted(known), 2)) for key in typos)]
            raise AnsibleParserError('pve.cloud.proxmox: %s: unknown option(s): %s. Fix the name (see ansible-doc -t '
                                     'inventory pve.cloud.proxmox), or set strict: false to ignore them'
                                     % (path, ', '.join(hints)))
        if unknown:
            display.warning('pve.cloud.proxmox: %s: unknown option(s) ignored: %s (see ansible-doc -t inventory '
                            'pve.cloud.proxmox)' % (path, ', '.join(unknown)))

    def _text_option(self, name):
        value = self.get_option(name)
        if isinstance(value, str) and self.templar.is_template(value):
            value = self.templar.template(value)
        return None if value is None else str(value)

    def _setup(self, config):
        host, port = self._text_option('api_host'), self.get_option('api_port')
        url = self._text_option('url')
        if url:
            # (get_option_and_origin cannot tell the file from the defaults before ansible-core 2.19)
            url_rank = _origin_rank(config, ('url',), 'PROXMOX_URL')
            host_rank = _origin_rank(config, ('api_host',), 'PROXMOX_HOST') if host else -1
            if url_rank >= host_rank:
                host, url_port = split_url(url)
                port = url_port or port
        if not host:
            raise AnsibleParserError('pve.cloud.proxmox: no API address: set api_host or url in the inventory file, '
                                     'or PROXMOX_HOST (or PROXMOX_URL) in the environment')
        self._connection = dict(
            api_host=host, api_port=port, api_user=self._text_option('api_user'),
            api_password=self._text_option('api_password'), api_token_id=self._text_option('api_token_id'),
            api_token_secret=self._text_option('api_token_secret'), validate_certs=self.get_option('validate_certs'),
            ca_path=self.get_option('ca_path'), api_timeout=self.get_option('api_timeout'))

        self._prefix = self.get_option('facts_prefix') or ''
        self._group_prefix = self.get_option('group_prefix') or ''
        host_facts = self.get_option('host_facts')
        self._host_facts = frozenset(RESOURCE_FACTS if 'all' in host_facts else host_facts)
        self._group_by = frozenset(self.get_option('group_by'))
        self._constructed = any(self.get_option(name) for name in ('compose', 'groups', 'keyed_groups'))
        self._fact_names = {}
        # the cluster facts are identifiers PVE validates; configuration and addresses stay untrusted
        # (address_source too: one of the ansible_host_sources choices)
        self._resource_keys = frozenset(self._fact(key) for key in RESOURCE_FACTS + ('address_source',))
        self._shared = {}
        self._groups = {}
        self._want_config = self.get_option('want_config')
        self._want_addresses = self.get_option('want_addresses')
        # plain strings: an option value carries ansible-core's tags, which the cache stores with every guest's
        # address_source and decodes again at 7 ms each (a cached 2,000-guest run took longer than an uncached one)
        self._sources = [str(source) for source in self.get_option('ansible_host_sources') or []]
        self._needs_config = self._want_config or (self._want_addresses and bool(CONFIG_SOURCES & set(self._sources)))
        self._concurrency = self.get_option('concurrency')
        if self._concurrency < 1:
            raise AnsibleParserError('pve.cloud.proxmox: concurrency must be 1 or more, got %s' % self._concurrency)
        self._strict = self.get_option('strict')
        self._list_filters = dict((name, self.get_option(name))
                                  for name in PATTERN_OPTIONS + ('types', 'statuses', 'include_templates'))
        self._filters = self.get_option('filters')
        self._hostname = self.get_option('hostname') or 'name'
        for name in PATTERN_OPTIONS:
            for pattern in (p for p in self.get_option(name) if p.startswith('~')):
                try:
                    re.compile(pattern[1:])
                except re.error as err:
                    raise AnsibleParserError("pve.cloud.proxmox: %s: '%s' is not a valid regular expression: %s"
                                             % (name, pattern, err))
        # What was read depends on these; cached data read with other values is not used.
        read_options = dict(host=host, port=port, user=self._connection['api_user'],
                            token=self._connection['api_token_id'], config=self._needs_config,
                            addresses=self._want_addresses, sources=self._sources if self._want_addresses else [],
                            filters=[self.get_option(name) for name in PATTERN_OPTIONS + ('types', 'statuses',
                                                                                          'include_templates')])
        self._fingerprint = hashlib.sha256(json.dumps(read_options, sort_keys=True, default=str).encode()).hexdigest()

    # -- reading the cluster ----------------------------------------------------------------------

    def _client(self):
        try:
            # (the call log is formatted only when -vvv shows it)
            log = display.vvv if display.verbosity >= 3 else None
            return PVEClient(log=log, pool_size=self._concurrency, **self._connection)
        except PVEError as err:
            raise AnsibleParserError('pve.cloud.proxmox: %s' % err.message)

    def _fail(self, client, err):
        where = client.base_url
        message = err.message if where in err.message else '%s (API at %s)' % (err.message, where)
        raise AnsibleParserError('pve.cloud.proxmox: cannot read the cluster: %s' % message)

    def _read_cluster(self):
        client = self._client()
        try:
            try:
                resources = client.get('/cluster/resources', type='vm') or []
            except PVEError as err:
                self._fail(client, err)
            guests = sorted((dict((k, r[k]) for k in RESOURCE_FIELDS if k in r) for r in resources
                             if r.get('type') in ('qemu', 'lxc') and r.get('vmid') is not None),
                            key=lambda r: int(r['vmid']))
            del resources
            guests = [g for g in guests if self._wanted(g)]
            details = {}
            if guests and (self._needs_config or self._want_addresses):
                details = self._read_details(client, guests)
        finally:
            client.close()
        return dict(fingerprint=self._fingerprint, guests=guests, details=details)

    def _wanted(self, guest):
        """The list filters, on the /cluster/resources entry only (no API call)."""
        # (options read once: get_option per guest and filter was a tenth of the plugin's time at 2,000 guests)
        option = self._list_filters
        if bool(int(guest.get('template') or 0)) and not option['include_templates']:
            return False
        if option['types'] and guest.get('type') not in option['types']:
            return False
        if option['statuses'] and guest.get('status') not in option['statuses']:
            return False
        if option['nodes'] and not match_any(guest.get('node'), option['nodes']):
            return False
        if option['pools'] and not match_any(guest.get('pool'), option['pools']):
            return False
        if option['tags'] or option['exclude_tags']:
            tags = split_tags(guest.get('tags'))
            if option['tags'] and not any(match_any(t, option['tags']) for t in tags):
                return False
            if any(match_any(t, option['exclude_tags']) for t in tags):
                return False
        if option['names'] and not match_any(guest.get('name'), option['names']):
            return False
        if option['exclude_names'] and match_any(guest.get('name'), option['exclude_names']):
            return False
        return True

    def _read_details(self, client, guests):
        if self._concurrency == 1:
            results = [self._guest_details(client, g) for g in guests]
        else:
            # The client's session is shared: it was opened (and logged in) by the listing call above.
            with ThreadPoolExecutor(max_workers=self._concurrency) as pool:
                futures = [pool.submit(self._guest_details, client, g) for g in guests]
                try:
                    results = [f.result() for f in futures]
                except BaseException:
                    for future in futures:
                        future.cancel()
                    raise
        return dict(('%s/%s' % (g['type'], g['vmid']), r) for g, r in zip(guests, results))

    def _guest_details(self, client, guest):
        """Configuration and address of one guest; per-guest API errors are kept, not raised."""
        base = '/nodes/%s/%s/%s' % (guest['node'], guest['type'], guest['vmid'])
        details = {}
        config = {}
        try:
            # status 'unknown': the guest's node is offline and cannot answer (PVE gives 595 after the retries)
            if self._needs_config and guest.get('status') != 'unknown':
                config = client.get(base + '/config') or {}
                details['config'] = config
            if self._want_addresses:
                self._resolve_address(client, guest, base, config, details)
        except PVEError as err:
            if err.kind in FATAL_KINDS:
                self._fail(client, err)
            details['error'] = err.message
        return details

    def _resolve_address(self, client, guest, base, config, details):
        running = guest.get('status') == 'running'
        for source in self._sources:
            address = None
            if source == 'agent' and guest['type'] == 'qemu' and running and agent_enabled(config):
                interfaces = self._optional_get(client, base + '/agent/network-get-interfaces', details)
                interfaces = agent_interfaces(interfaces) if interfaces is not None else None
                if interfaces is not None:
                    details['agent_interfaces'] = interfaces
                    address = pick_address(a for i in interfaces for a in i['ip-addresses'])
            elif source == 'ipconfig' and guest['type'] == 'qemu':
                address = static_address(config, 'ipconfig')
            elif source == 'lxc_net' and guest['type'] == 'lxc':
                address = static_address(config, 'net')
            elif source == 'lxc_interfaces' and guest['type'] == 'lxc' and running:
                interfaces = self._optional_get(client, base + '/interfaces', details)
                if isinstance(interfaces, list):
                    details['lxc_interfaces'] = [dict((k, i.get(k)) for k in ('name', 'hwaddr', 'inet', 'inet6')
                                                      if i.get(k) is not None) for i in interfaces]
                    address = pick_address(interface_addresses(interfaces))
            elif source == 'name':
                address = dns_name(guest)
            if address:
                details['address'] = address
                details['address_source'] = source
                return

    def _optional_get(self, client, path, details):
        """A call that may fail for one guest (agent not running, no permission): the next source is tried."""
        try:
            return client.get(path)
        except PVEError as err:
            if err.kind in FATAL_KINDS:
                raise
            display.vvv('pve.cloud.proxmox: %s: %s; trying the next source' % (path, err.message))
            return None

    # -- building the inventory -------------------------------------------------------------------

    def _fact(self, name):
        # one string per fact name, not one per guest and fact
        try:
            return self._fact_names[name]
        except KeyError:
            fact = self._fact_names[name] = '%s%s' % (self._prefix, re.sub(r'[^A-Za-z0-9_]', '_', name.lower()))
            return fact

    def _group(self, name):
        return sanitize_group_name('%s%s' % (self._group_prefix, name))

    def _made_group(self, name, parent=None):
        """The group for name, made (and put under parent) the first time only: guests share few groups."""
        try:
            return self._groups[name]
        except KeyError:
            group = self._groups[name] = self.inventory.add_group(self._group(name))
            if parent:
                self.inventory.add_child(self._made_group(parent), group)
            return group

    def _populate(self, data):
        base_groups = []
        if 'type' in self._group_by:
            base_groups += ['all_qemu', 'all_lxc']
        if 'status' in self._group_by:
            base_groups += ['all_running', 'all_stopped']
        if self.get_option('include_templates'):
            base_groups.append('all_templates')
        for name in base_groups:
            self._made_group(name)

        details = data.get('details') or {}
        used = {}
        warned = set()
        for guest in data.get('guests') or []:
            info = details.get('%s/%s' % (guest['type'], guest['vmid'])) or {}
            facts, hostvars = self._host_vars(guest, info)
            if not self._passes_filters(guest, facts, warned):
                continue
            name, duplicate = self._host_name(guest, facts, used)
            if name is None:
                continue
            if duplicate and hostvars.get(self._fact('address_source')) == 'name':
                # its DNS name is the other guest's
                for variables in (facts, hostvars):
                    variables.pop('ansible_host', None)
                    variables.pop(self._fact('address_source'), None)
            if info.get('error'):
                display.warning('pve.cloud.proxmox: %s (%s %s): only cluster facts: %s'
                                % (name, guest['type'], guest['vmid'], info['error']))
            self._add_host(name, guest, facts, hostvars)

    def _host_vars(self, guest, info):
        """(every fact, for templating; the host variables, the part of them that host_facts asks for)."""
        facts, hostvars = {}, {}
        for key, value in resource_facts(guest).items():
            fact = self._fact(key)
            facts[fact] = value
            if key in self._host_facts:
                hostvars[fact] = value
        if self._want_config and info.get('config'):
            taken = set(facts)
            for key, value in info['config'].items():
                fact = self._fact(key)
                if key != 'digest' and fact not in taken:
                    facts[fact] = hostvars[fact] = config_value(key, value)
        if info.get('error'):
            facts[self._fact('facts_error')] = hostvars[self._fact('facts_error')] = info['error']
        if self._want_addresses:
            for key in ('agent_interfaces', 'lxc_interfaces', 'address_source'):
                if key in info:
                    facts[self._fact(key)] = hostvars[self._fact(key)] = info[key]
            if info.get('address'):
                facts['ansible_host'] = hostvars['ansible_host'] = info['address']
        return facts, hostvars

    def _passes_filters(self, guest, facts, warned):
        for condition in self._filters:
            try:
                if not self._compose(condition, facts):
                    return False
            except Exception as err:  # pylint: disable=broad-except
                message = 'pve.cloud.proxmox: filter %r failed for %s: %s' % (condition, guest.get('name'), err)
                if self._strict:
                    raise AnsibleParserError(message)
                if condition not in warned:
                    warned.add(condition)
                    display.warning(message + ' (the guest is kept; further failures of this filter are not shown)')
        return True

    def _host_name(self, guest, facts, used):
        how = self._hostname
        if how == 'name':
            name = guest_name(guest)
        elif how == 'vmid':
            name = str(guest['vmid'])
        else:
            variables = dict(guest)
            variables.update(facts)
            variables['tags'] = facts[self._fact('tags')]
            try:
                self.templar.available_variables = variables
                name = self.templar.template(how)
            except Exception as err:  # pylint: disable=broad-except
                message = 'pve.cloud.proxmox: hostname template failed for %s %s: %s' % (
                    guest['type'], guest['vmid'], err)
                if self._strict:
                    raise AnsibleParserError(message)
                display.warning(message + '; the guest name is used')
                name = guest_name(guest)
            name = str(name).strip()
            if not name:
                display.warning('pve.cloud.proxmox: hostname template gave an empty name for %s %s; left out'
                                % (guest['type'], guest['vmid']))
                return None, False
        if name in used:
            other = used[name]
            renamed = '%s_%s' % (name, guest['vmid'])
            display.warning('pve.cloud.proxmox: %s %s and %s %s are both named %s; the second is %s'
                            % (other['type'], other['vmid'], guest['type'], guest['vmid'], name, renamed))
            used[renamed] = guest
            return renamed, True
        used[name] = guest
        return name, False

    def _add_host(self, name, guest, facts, hostvars):
        inventory = self.inventory
        inventory.add_host(name)
        self._set_host_vars(name, hostvars)

        if bool(int(guest.get('template') or 0)):
            inventory.add_child(self._made_group('all_templates'), name)
        else:
            self._add_to_groups(name, guest, facts[self._fact('tags')])

        if self._constructed:
            # compose, groups and keyed_groups see every fact, host variables or not
            variables = dict(facts)
            variables.update(inventory.get_host(name).get_vars())
            self._set_composite_vars(self.get_option('compose'), variables, name, strict=self._strict)
            self._add_host_to_composed_groups(self.get_option('groups'), variables, name, strict=self._strict)
            self._add_host_to_keyed_groups(self.get_option('keyed_groups'), variables, name, strict=self._strict)

    def _set_host_vars(self, name, hostvars):
        """Store the host variables, one object per repeated value (node, status, a tag...) shared by every guest.

        They go straight into the host's vars, not through inventory.set_variable: from ansible-core 2.19 on that
        copies and tags each value it is given (origin tags for error messages; names checked for a deprecation
        warning), which was 45% of the plugin's CPU without per-guest facts and more with want_config. Nothing
        else differs: the values are plain JSON types (or wrap_var'd before 2.19), names are valid identifiers,
        trust is set here (identifier() and untrusted()), and `ansible-inventory --list` prints the same bytes.
        """
        host_vars = self.inventory.get_host(name).vars
        shared = self._shared
        for key, value in hostvars.items():
            convert = identifier if key in self._resource_keys else untrusted
            if key[len(self._prefix):] in UNIQUE_FACTS:
                host_vars[key] = convert(value)
            elif isinstance(value, (str, int)):
                host_vars[key] = _shared_value(shared, key, value, convert)
            elif isinstance(value, list) and all(isinstance(item, (str, int)) for item in value):
                host_vars[key] = [_shared_value(shared, key, item, convert) for item in value]
            else:
                host_vars[key] = convert(value)

    def _add_to_groups(self, name, guest, tags):
        add_child, group = self.inventory.add_child, self._made_group
        group_by = self._group_by
        gtype, node = guest['type'], guest.get('node')
        if 'type' in group_by:
            add_child(group('all_%s' % gtype), name)
        if 'status' in group_by:
            add_child(group('all_%s' % guest.get('status')), name)
        if 'node' in group_by:
            add_child(group('%s_%s' % (node, gtype), parent=node), name)
        if 'pool' in group_by and guest.get('pool'):
            add_child(group('pool_%s' % guest['pool']), name)
        if 'tag' in group_by:
            for tag in tags:
                add_child(group('tag_%s' % tag), name)
