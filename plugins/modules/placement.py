#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: placement
short_description: Plan a fleet of guests on a Proxmox VE cluster (names, nodes, what to create, keep and remove)
version_added: 0.1.0
description:
  - Turns a declarative list of guest groups (O(groups)) into a plan, from one read of C(/nodes) and one of
    C(/cluster/resources). It writes nothing; the P(pve.cloud.fleet#role) role carries the plan out with M(pve.cloud.qemu).
  - A group with C(count) is numbered (C(web-01) ... C(web-NN)); without it, it is one guest of that name.
  - Ownership - every guest of the fleet carries O(tag). A guest of the same name without that tag is never adopted;
    it is reported in RV(failures) and left alone. Guests with the tag that are no longer declared are removed
    only with O(prune=true); members of a numbered group above its count are removed (the highest numbers
    go first, because they are the ones above the count).
  - Placement of new guests (C(node) V(auto)) - only online nodes outside O(exclude_nodes), only
    where the guest's memory fits (memory of every guest on the node counted as configured, templates left out);
    with anti-affinity the node with the fewest members of the group first; then O(strategy). Guests placed
    earlier in the same plan count like existing ones, so a plan is the same whatever the order of groups'
    sizes.
  - Explicit nodes (C(node) set to a node name) are honoured, or refused in RV(failures) when the node
    is offline or not in the cluster.
author:
  - pve.cloud developers (@pve-cloud)
extends_documentation_fragment:
  - pve.cloud.api
  - pve.cloud.api.actiongroups
  - pve.cloud.attributes
options:
  fleet:
    description: Name of the fleet (used in the default O(tag) and in messages).
    type: str
    required: true
  tag:
    description:
      - The ownership tag every guest of the fleet carries. Defaults to V(fleet-) followed by O(fleet) in lower case.
    type: str
  groups:
    description:
      - The guests, as a list of groups. Keys used for the plan are listed below; every other key is passed on
        to the guest module in C(args) of RV(guests) (for M(pve.cloud.qemu) for example C(cores), C(networks),
        C(disks), C(ipconfig), C(ciuser), C(sshkeys), C(full), C(storage), C(agent), C(wait_for_ip)).
      - C(name) (required) - name of the guest, or of the group with C(count).
      - C(count) - number of guests, named C(NAME-01) ... (see O(index_width)); V(0) removes them all.
      - C(kind) - V(vm) (default, managed with M(pve.cloud.qemu)) or V(container) (M(pve.cloud.lxc); created from
        C(ostemplate) or cloned from a container template with C(clone) or C(image)).
      - C(node) - V(auto) (default) or a node name. C(nodes) - the nodes V(auto) may choose from.
      - C(anti_affinity) - place members of the group on different nodes when possible (default V(false)).
      - C(clone) - name or VMID of the template to clone. C(image) - instead of C(clone), the name of a golden image
        built by the P(pve.cloud.golden_image#role) role; the newest version (a template of the group's kind tagged
        C(golden-IMAGE)) is used.
      - C(memory) (MiB) and C(cores) - sizes, also used for placement (default - those of the clone source).
      - C(state) - V(started) (default), V(present) or V(stopped).
      - C(tags) - more tags; the fleet tag is always added.
      - In string values, V({index}) is replaced by the member's number and V({name}) by its name (for example
        V(ip=10.0.20.{index}/24,gw=10.0.20.1) in C(ipconfig0)).
    type: list
    elements: dict
    default: []
  defaults:
    description:
      - Keys applied to every group that does not set them (for example C(image), C(networks), C(storage)), as far as the
        group's kind has them (C(ciuser) or C(image) reach only VM groups, C(ostemplate) only container groups; a
        container group names its golden image itself).
    type: dict
    default: {}
  state:
    description:
      - V(present) plans the declared guests. V(absent) plans the removal of every guest carrying O(tag).
    type: str
    choices: [present, absent]
    default: present
  prune:
    description: Remove guests that carry O(tag) but are no longer declared. Guests without the tag are never touched.
    type: bool
    default: false
  strategy:
    description:
      - V(spread) puts a new guest on the node with the most free memory (then free CPUs), V(pack) on the fullest node
        it still fits on.
    type: str
    choices: [spread, pack]
    default: spread
  exclude_nodes:
    description: Nodes never chosen for new guests (for example nodes in maintenance). Offline nodes are always skipped.
    type: list
    elements: str
    default: []
  memory_ratio:
    description:
      - How much memory may be given to guests, as a multiple of a node's memory (V(1.0) - no overcommit).
    type: float
    default: 1.0
  parallel:
    description: How many guests the role creates or updates at once (the size of each wave in RV(waves)).
    type: int
    default: 4
  parallel_per_source:
    description:
      - How many clones of the same source run at once. PVE locks a running clone source for the whole clone, so
        clones of a running VM are always serialised; this limit applies to templates.
    type: int
    default: 2
  index_width:
    description: Minimum number of digits of member numbers (V(2) - C(web-01)).
    type: int
    default: 2
notes:
  - Without C(Sys.Audit) on a node PVE shows no memory figures for it; every guest then fits there and the strategy
    compares the memory committed to guests (C(capacity_mib) in RV(nodes) is V(null)).
  - The no-op cost is C(GET /nodes) and C(GET /cluster/resources), plus one config read per version of a golden image named by
    C(image) when more than one version exists and a guest must be cloned from it.
seealso:
  - module: pve.cloud.qemu
  - module: pve.cloud.qemu_info
  - module: pve.cloud.lxc
'''

EXAMPLES = r'''
- name: Plan nine web servers spread over the cluster and a database on pve1
  pve.cloud.placement:
    fleet: shop
    strategy: spread
    defaults:
      image: debian-13
      networks:
        net0: {bridge: vmbr0}
    groups:
      - name: web
        count: 9
        memory: 2048
        cores: 2
        anti_affinity: true
        ipconfig:
          ipconfig0: ip=10.0.20.{index}/24,gw=10.0.20.1
      - name: db
        node: pve1
        memory: 8192
  register: plan

- name: Show where the new guests go
  ansible.builtin.debug:
    msg: "{{ plan.guests | selectattr('action', 'eq', 'create') | map(attribute='name') | zip(
             plan.guests | selectattr('action', 'eq', 'create') | map(attribute='node')) }}"

- name: Plan the removal of the whole fleet
  pve.cloud.placement:
    fleet: shop
    state: absent
  register: teardown
'''

RETURN = r'''
tag:
  description: The ownership tag.
  returned: always
  type: str
  sample: fleet-shop
guests:
  description: Every declared guest that can be carried out, in declaration order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the guest.
      type: str
    group:
      description: Name of its group.
      type: str
    index:
      description: Its number in the group (V(null) for a group without count).
      type: int
    kind:
      description: V(vm) or V(container).
      type: str
    module:
      description: The module that manages it (V(pve.cloud.qemu) or V(pve.cloud.lxc)).
      type: str
    action:
      description: V(create) (it does not exist yet) or V(converge) (it exists; the module brings it to the declared state).
      type: str
    node:
      description: Its node (where it is, or where it will be created).
      type: str
    vmid:
      description: Its VMID, V(null) for a guest to create.
      type: int
    source:
      description: VMID of the template it is cloned from (new guests), else V(null).
      type: int
    memory_mib:
      description: Memory counted for placement.
      type: int
    args:
      description: The options for the guest module (name, node, clone, tags, state and the group's other keys).
      type: dict
  sample: [{name: web-01, group: web, index: 1, kind: vm, module: pve.cloud.qemu, action: create, node: pve1,
            vmid: null, source: 9000, memory_mib: 2048, args: {name: web-01, node: pve1, clone: '9000', state: started,
            tags: [fleet-shop, web], cores: 2, memory: 2048}}]
remove:
  description: Guests to remove, with C(name), C(vmid), C(node), C(kind), C(module), C(status) and C(reason) (V(scale_down),
    V(prune) or V(absent)), highest-numbered first.
  returned: always
  type: list
  elements: dict
  sample: [{name: web-04, vmid: 104, node: pve1, kind: vm, module: pve.cloud.qemu, status: running, reason: scale_down}]
undeclared:
  description: Guests carrying O(tag) that are not declared and are kept because O(prune) is off.
  returned: always
  type: list
  elements: dict
failures:
  description: Declared guests that cannot be carried out, with C(guest), C(node), C(step) (V(plan)) and C(message).
  returned: always
  type: list
  elements: dict
  sample: [{guest: web-02, node: null, step: plan, message: "web-02 exists (VMID 120) without the fleet tag fleet-shop"}]
waves:
  description:
    - RV(guests) split into waves of at most O(parallel) guests, with at most O(parallel_per_source) clones of one source
      per wave; each item is a list of indexes into RV(guests).
  returned: always
  type: list
  elements: list
  sample: [[0, 1, 2, 3], [4, 5]]
remove_waves:
  description: RV(remove) split the same way (lists of indexes into RV(remove)).
  returned: always
  type: list
  elements: list
nodes:
  description:
    - Per node - C(node), C(status), C(eligible) (may take new guests), C(capacity_mib), C(committed_mib) (memory of its
      guests before the plan, templates and guests to remove left out), C(planned_mib) (after), C(fleet_guests)
      (members of the fleet there after the plan) and C(new_guests).
  returned: always
  type: list
  elements: dict
  sample: [{node: pve1, status: online, eligible: true, capacity_mib: 65536, committed_mib: 0, planned_mib: 6144,
            fleet_guests: 3, new_guests: 3}]
summary:
  description: Counts of C(create), C(converge), C(remove), C(undeclared) and C(failed).
  returned: always
  type: dict
  sample: {create: 9, converge: 0, remove: 0, undeclared: 0, failed: 0}
'''

import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pve.cloud.plugins.module_utils import golden
from ansible_collections.pve.cloud.plugins.module_utils import propstring as ps
from ansible_collections.pve.cloud.plugins.module_utils.api import PVEClient, PVEError, api_argument_spec

MiB = 1024 * 1024
PLAN_KEYS = frozenset(('name', 'count', 'kind', 'node', 'nodes', 'anti_affinity', 'image', 'clone'))
# options of the guest modules a group may set (identity, placement and power are the plan's)
QEMU_KEYS = frozenset((
    'full', 'storage', 'format', 'snapname', 'cores', 'sockets', 'vcpus', 'memory', 'balloon', 'cpu', 'machine',
    'bios', 'ostype', 'scsihw', 'agent', 'onboot', 'boot', 'tags', 'description', 'pool', 'protection', 'efidisk0',
    'tpmstate0', 'networks', 'disks', 'cloudinit_drive', 'ciuser', 'sshkeys', 'ipconfig', 'nameserver',
    'searchdomain', 'cicustom', 'citype', 'ciupgrade', 'config', 'reboot_if_needed', 'wait_for_ip', 'timeouts',
    'state'))
LXC_KEYS = frozenset((
    'ostemplate', 'full', 'storage', 'snapname', 'ssh_public_keys', 'unprivileged', 'cores', 'cpulimit', 'cpuunits',
    'memory', 'swap', 'features', 'startup', 'nameserver', 'searchdomain', 'timezone', 'arch', 'ostype', 'hookscript',
    'rootfs', 'mounts', 'networks', 'onboot', 'tags', 'description', 'pool', 'protection', 'config',
    'reboot_if_needed', 'wait_for_ip', 'timeouts', 'state'))
KINDS = dict(vm=dict(type='qemu', module='pve.cloud.qemu', keys=QEMU_KEYS),
             container=dict(type='lxc', module='pve.cloud.lxc', keys=LXC_KEYS))
STATES = ('started', 'present', 'stopped')
SECRET_KEYS = frozenset(('cipassword', 'password'))
NAME_RE = re.compile(r'^[a-z0-9]([a-z0-9-]*[a-z0-9])?$', re.IGNORECASE)
DEFAULT_MEMORY_MIB = 512
# capacity of a node PVE shows without memory figures (the token lacks Sys.Audit there): 1 PiB
UNKNOWN_CAPACITY = 1024 ** 5


class PlanError(Exception):
    """Input that cannot be planned at all: names the parameter and the fix."""


def substitute(value, index, name):
    """Replace {index} and {name} in every string of a nested value."""
    if isinstance(value, str):
        return value.replace('{index}', '' if index is None else str(index)).replace('{name}', name)
    if isinstance(value, dict):
        return dict((k, substitute(v, index, name)) for k, v in value.items())
    if isinstance(value, list):
        return [substitute(v, index, name) for v in value]
    return value


def member_names(group, width):
    """[(index, name)] of a group: numbered with count, else the one guest named like the group."""
    if group.get('count') is None:
        return [(None, group['name'])]
    count = int(group['count'])
    width = max(width, len(str(count)))
    return [(i, '%s-%0*d' % (group['name'], width, i)) for i in range(1, count + 1)]


def check_groups(groups, defaults):
    """The groups with the defaults applied, checked before anything is read."""
    merged, seen = [], set()
    for pos, group in enumerate(groups):
        where = 'groups[%d]' % pos
        if not isinstance(group, dict) or not group.get('name'):
            raise PlanError('%s: every group needs a name' % where)
        kind = group.get('kind', defaults.get('kind', 'vm'))
        # a default only reaches the groups whose kind has that key (ciuser is for VMs, ostemplate for containers)
        accepted = PLAN_KEYS | KINDS[kind]['keys'] if kind in KINDS else set(defaults)
        if kind == 'container':
            # a default image names a VM golden image
            accepted = accepted - set(['image'])
        if 'clone' in group or 'image' in group:
            # the group's own source replaces the default one
            accepted = accepted - set(['image', 'clone'])
        group = dict(dict((k, v) for k, v in defaults.items() if k in accepted or k in SECRET_KEYS), **group)
        name = str(group['name'])
        if not NAME_RE.match(name):
            raise PlanError("%s: name '%s' is not a DNS name: use letters, digits and '-'" % (where, name))
        if name in seen:
            raise PlanError("%s: group '%s' is declared twice: merge them or rename one" % (where, name))
        seen.add(name)
        kind = group.get('kind', 'vm')
        if kind not in KINDS:
            raise PlanError("%s: kind '%s' is unknown: use vm or container" % (where, kind))
        if group.get('count') is not None:
            # a templated count arrives as a string where Jinja is not native (ansible-core 2.16, AWX surveys)
            count = group['count']
            if isinstance(count, str) and count.strip().isdigit():
                count = int(count)
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise PlanError('%s: count must be a whole number of 0 or more, not %r' % (where, group['count']))
            group['count'] = count
        if group.get('image') and group.get('clone'):
            raise PlanError('%s: set image or clone, not both' % where)
        secrets = sorted(SECRET_KEYS & set(group))
        if secrets:
            raise PlanError('%s: %s is a secret and is not part of a group: pass it to the role as fleet_cipassword '
                            '(VMs) or fleet_password (containers), or use SSH keys' % (where, secrets[0]))
        unknown = sorted(set(group) - PLAN_KEYS - KINDS[kind]['keys'])
        if unknown:
            raise PlanError("%s: unknown key '%s' for kind %s: a group has %s" % (where, unknown[0], kind, ', '.join(
                sorted(PLAN_KEYS | KINDS[kind]['keys']))))
        if group.get('state', 'started') not in STATES:
            raise PlanError("%s: state '%s' is not a fleet state: use %s (state: absent of the role removes the "
                            "fleet)" % (where, group['state'], ', '.join(STATES)))
        merged.append(group)
    return merged


class Cluster(object):
    """Nodes (from /nodes) and guests (from /cluster/resources), with the memory committed on each node.

    Without Sys.Audit on a node, PVE lists it without memory and CPUs: its capacity is then unknown, every guest
    fits, and the strategy compares the memory committed there instead of the memory free.
    """

    def __init__(self, nodes, guests, exclude, ratio):
        self.nodes = {}
        for entry in nodes:
            known = bool(entry.get('maxmem'))
            self.nodes[entry['node']] = dict(
                node=entry['node'], status=entry.get('status') or 'unknown', known=known,
                capacity=int(entry['maxmem'] * ratio) if known else UNKNOWN_CAPACITY, maxcpu=entry.get('maxcpu') or 0,
                committed=0, cpus=0, excluded=entry['node'] in exclude, fleet=0, new=0)
        self.guests = [e for e in guests if e.get('type') in ('qemu', 'lxc') and e.get('vmid') is not None]
        for guest in self.guests:
            self.commit(guest)

    def commit(self, guest, sign=1):
        node = self.nodes.get(guest.get('node'))
        if node is None or int(guest.get('template') or 0):
            return
        node['committed'] += sign * int(guest.get('maxmem') or 0)
        node['cpus'] += sign * int(guest.get('maxcpu') or 0)

    def eligible(self, name):
        node = self.nodes.get(name)
        return node is not None and node['status'] == 'online' and not node['excluded']


class Planner(object):
    def __init__(self, params, nodes, guests, read_config):
        self.p = params
        self.tag = (params['tag'] or 'fleet-%s' % params['fleet']).lower()
        if not ps.TAG_RE.match(self.tag):
            raise PlanError("tag: '%s' is not a valid PVE tag: use letters, digits and _ - + ." % self.tag)
        self.cluster = Cluster(nodes, guests, set(params['exclude_nodes']), params['memory_ratio'])
        self.read_config = read_config
        self.guests, self.remove, self.undeclared, self.failures = [], [], [], []
        self.members = {}   # group name -> {node: count} for anti-affinity
        self.images = {}

    # -- ownership -------------------------------------------------------------------------------

    def owned(self, entry):
        try:
            return self.tag in ps.parse_tags(entry.get('tags'))
        except ps.PropertyStringError:
            return False

    def removal(self, entry, reason):
        kind = 'vm' if entry.get('type') == 'qemu' else 'container'
        return dict(name=entry.get('name'), vmid=int(entry['vmid']), node=entry.get('node'), kind=kind,
                    module=KINDS[kind]['module'], status=entry.get('status'),
                    reason=reason)

    def plan(self, groups):
        owned = [e for e in self.cluster.guests if self.owned(e)]
        if self.p['state'] == 'absent':
            self.remove = [self.removal(e, 'absent') for e in sorted(owned, key=lambda e: -int(e['vmid']))]
            for entry in owned:
                self.cluster.commit(entry, -1)
            return
        declared = {}
        for group in groups:
            for index, name in member_names(group, self.p['index_width']):
                declared[name] = (group, index)
        self.plan_removals(groups, owned, declared)
        for group in groups:
            for index, name in member_names(group, self.p['index_width']):
                self.plan_guest(group, index, name)

    def plan_removals(self, groups, owned, declared):
        numbered = dict((g['name'], re.compile(r'^%s-(\d+)$' % re.escape(g['name']))) for g in groups
                        if g.get('count') is not None)
        for entry in owned:
            name = entry.get('name')
            if name in declared:
                continue
            group = next((g for g, rx in numbered.items() if rx.match(name or '')), None)
            if group is not None:
                self.remove.append(self.removal(entry, 'scale_down'))
            elif self.p['prune']:
                self.remove.append(self.removal(entry, 'prune'))
            else:
                self.undeclared.append(self.removal(entry, 'undeclared'))
        # highest numbers first: a scale-down that stops half-way leaves the low numbers
        self.remove.sort(key=lambda r: (r['name'] or '', r['vmid']), reverse=True)
        for item in self.remove:
            self.cluster.commit(next(e for e in self.cluster.guests if int(e['vmid']) == item['vmid']), -1)

    # -- one guest -------------------------------------------------------------------------------

    def fail(self, name, message, node=None):
        self.failures.append(dict(guest=name, node=node, step='plan', message=message))

    def plan_guest(self, group, index, name):
        kind = group.get('kind', 'vm')
        namesakes = [e for e in self.cluster.guests if e.get('name') == name]
        if len(namesakes) > 1:
            return self.fail(name, '%d guests are named %s (VMIDs %s): rename all but one'
                             % (len(namesakes), name, ', '.join(str(e['vmid']) for e in namesakes)))
        entry = namesakes[0] if namesakes else None
        if entry is not None:
            return self.keep(group, index, name, entry, kind)
        return self.create(group, index, name, kind)

    def keep(self, group, index, name, entry, kind):
        vmid, node = int(entry['vmid']), entry.get('node')
        if not self.owned(entry):
            return self.fail(name, '%s exists (VMID %s on %s) without the fleet tag %s, so the fleet leaves it alone: '
                                   'rename it, or add the tag to adopt it' % (name, vmid, node, self.tag), node)
        if entry.get('type') != KINDS[kind]['type'] or int(entry.get('template') or 0):
            return self.fail(name, '%s (VMID %s) is a %s%s, but the fleet declares a %s: remove it or rename the group'
                             % (name, vmid, entry.get('type'), ' template' if int(entry.get('template') or 0) else '',
                                kind), node)
        self.count_member(group, node)
        self.add(group, index, name, kind, 'converge', node, vmid, None, int(entry.get('maxmem') or 0) // MiB)

    def create(self, group, index, name, kind):
        source = self.source(group)
        if isinstance(source, str):
            return self.fail(name, source)
        memory = group.get('memory') or (source and int(source.get('maxmem') or 0) // MiB) or DEFAULT_MEMORY_MIB
        cores = group.get('cores') or (source and source.get('maxcpu')) or 1
        node = self.choose(group, name, int(memory) * MiB, int(cores))
        if node is None:
            return
        target = self.cluster.nodes[node]
        target['committed'] += int(memory) * MiB
        target['cpus'] += int(cores)
        target['new'] += 1
        self.count_member(group, node)
        self.add(group, index, name, kind, 'create', node, None, source and int(source['vmid']), int(memory))

    def count_member(self, group, node):
        per_node = self.members.setdefault(group['name'], {})
        per_node[node] = per_node.get(node, 0) + 1
        if node in self.cluster.nodes:
            self.cluster.nodes[node]['fleet'] += 1

    def add(self, group, index, name, kind, action, node, vmid, source, memory):
        args = dict((k, v) for k, v in group.items() if k not in PLAN_KEYS)
        args = substitute(args, index, name)
        args['tags'] = sorted(set([self.tag] + ps.parse_tags(args.get('tags') or [])))
        args.setdefault('state', 'started')
        # PVE names a container by its hostname
        args.update({'name' if kind == 'vm' else 'hostname': name, 'node': node})
        if vmid is not None:
            args['vmid'] = vmid
        if action == 'create' and source is not None:
            args['clone'] = str(source)
        self.guests.append(dict(name=name, group=group['name'], index=index, kind=kind, module=KINDS[kind]['module'],
                                action=action, node=node, vmid=vmid, source=source, memory_mib=memory, args=args))

    # -- clone sources and nodes -----------------------------------------------------------------

    def source(self, group):
        """The resources entry of the clone source, None without one, or a message why it cannot be used."""
        if group.get('image'):
            return self.image(group['image'], KINDS[group.get('kind', 'vm')]['type'])
        clone = group.get('clone')
        if clone is None:
            return None
        clone, kind = str(clone), KINDS[group.get('kind', 'vm')]['type']
        found = [e for e in self.cluster.guests if (str(e['vmid']) == clone or e.get('name') == clone)
                 and e.get('type') == kind]
        if len(found) != 1:
            return ("clone source '%s' %s: check the name or VMID of the template"
                    % (clone, 'is ambiguous (VMIDs %s)' % ', '.join(str(e['vmid']) for e in found) if found
                       else 'does not exist in the cluster or is not visible (grant VM.Audit on it)'))
        return found[0]

    def image(self, image, kind):
        """The newest version of a golden image of this kind (qemu or lxc), or a message why there is none."""
        if (image, kind) not in self.images:
            tag = ('golden-%s' % image).lower()
            versions = [e for e in self.cluster.guests if int(e.get('template') or 0) and e.get('type') == kind
                        and tag in ps.parse_tags(e.get('tags'))]
            if not versions:
                found = "no %s template carries the tag %s" % ('container' if kind == 'lxc' else 'VM', tag)
                self.images[image, kind] = ("golden image '%s' does not exist: %s (build it with the "
                                            "pve.cloud.golden_image role)" % (image, found))
            elif len(versions) == 1:
                self.images[image, kind] = versions[0]
            else:
                self.images[image, kind] = max(versions, key=lambda e: golden.created(self.read_config(e), e['vmid']))
        return self.images[image, kind]

    def choose(self, group, name, memory, cores):
        """The node for a new guest, or None (with a failure recorded)."""
        nodes = self.cluster.nodes
        wanted = group.get('node') or 'auto'
        if wanted != 'auto':
            if wanted not in nodes:
                return self.fail(name, "node '%s' is not in the cluster (nodes: %s)" % (wanted, ', '.join(sorted(nodes))))
            if nodes[wanted]['status'] != 'online':
                return self.fail(name, "node '%s' is %s: pick another node or node: auto"
                                 % (wanted, nodes[wanted]['status']), wanted)
            return wanted
        allowed = group.get('nodes') or sorted(nodes)
        unknown = sorted(set(allowed) - set(nodes))
        if unknown:
            return self.fail(name, "nodes: %s not in the cluster (nodes: %s)" % (', '.join(unknown), ', '.join(sorted(nodes))))
        eligible = [nodes[n] for n in allowed if self.cluster.eligible(n)]
        fits = [n for n in eligible if n['committed'] + memory <= n['capacity']]
        if not fits:
            free = ', '.join('%s %d MiB' % (n['node'], max(0, n['capacity'] - n['committed']) // MiB) for n in eligible)
            return self.fail(name, 'no online node has %d MiB of memory free for it (free: %s); add capacity, raise '
                                   'memory_ratio or lower memory' % (memory // MiB, free or 'no eligible node'))
        members = self.members.get(group['name'], {})
        return min(fits, key=lambda n: self.score(n, memory, cores, members if group.get('anti_affinity') else {}))['node']

    def score(self, node, memory, cores, members):
        """Sort key, smallest wins: anti-affinity first, then the strategy, then the node name."""
        if node['known']:
            free_mem = float(node['capacity'] - node['committed'] - memory) / max(node['capacity'], 1)
            free_cpu = float(node['maxcpu'] - node['cpus'] - cores) / max(node['maxcpu'], 1)
        else:
            free_mem, free_cpu = -float(node['committed'] + memory) / MiB, -float(node['cpus'] + cores)
        sign = -1 if self.p['strategy'] == 'spread' else 1
        return (members.get(node['node'], 0), sign * round(free_mem, 9), sign * round(free_cpu, 9), node['node'])

    # -- waves and report ------------------------------------------------------------------------

    def waves(self):
        """Indexes of self.guests in waves: at most `parallel`, at most `parallel_per_source` clones of one source."""
        left = list(range(len(self.guests)))
        waves = []
        while left:
            wave, sources = [], {}
            for i in list(left):
                if len(wave) >= self.p['parallel']:
                    break
                guest = self.guests[i]
                source = guest['source'] if guest['action'] == 'create' else None
                if source is not None and sources.get(source, 0) >= self.per_source(source):
                    continue
                if source is not None:
                    sources[source] = sources.get(source, 0) + 1
                wave.append(i)
                left.remove(i)
            waves.append(wave)
        return waves

    def per_source(self, vmid):
        entry = next((e for e in self.cluster.guests if int(e['vmid']) == vmid), {})
        # PVE holds the config lock of a running source for the whole clone
        return 1 if entry.get('status') == 'running' else self.p['parallel_per_source']

    def report(self):
        nodes = []
        for name in sorted(self.cluster.nodes):
            n = self.cluster.nodes[name]
            planned = n['committed']
            before = planned - sum(g['memory_mib'] * MiB for g in self.guests if g['action'] == 'create'
                                   and g['node'] == name)
            nodes.append(dict(node=name, status=n['status'], eligible=self.cluster.eligible(name),
                              capacity_mib=n['capacity'] // MiB if n['known'] else None, committed_mib=before // MiB,
                              planned_mib=planned // MiB, fleet_guests=n['fleet'], new_guests=n['new']))
        size = self.p['parallel']
        creates = [g for g in self.guests if g['action'] == 'create']
        return dict(changed=False, tag=self.tag, guests=self.guests, remove=self.remove, undeclared=self.undeclared,
                    failures=self.failures, waves=self.waves(),
                    remove_waves=[list(range(i, min(i + size, len(self.remove)))) for i in range(0, len(self.remove), size)],
                    nodes=nodes, summary=dict(create=len(creates), converge=len(self.guests) - len(creates),
                                              remove=len(self.remove), undeclared=len(self.undeclared),
                                              failed=len(self.failures)))


def main():
    spec = api_argument_spec()
    spec.update(
        fleet=dict(type='str', required=True),
        tag=dict(type='str'),
        groups=dict(type='list', elements='dict', default=[]),
        defaults=dict(type='dict', default={}),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        prune=dict(type='bool', default=False),
        strategy=dict(type='str', choices=['spread', 'pack'], default='spread'),
        exclude_nodes=dict(type='list', elements='str', default=[]),
        memory_ratio=dict(type='float', default=1.0),
        parallel=dict(type='int', default=4),
        parallel_per_source=dict(type='int', default=2),
        index_width=dict(type='int', default=2),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = module.params
    for key in ('parallel', 'parallel_per_source', 'index_width'):
        if p[key] < 1:
            module.fail_json(msg='%s must be 1 or more, not %s' % (key, p[key]), param=key)
    if p['memory_ratio'] <= 0:
        module.fail_json(msg='memory_ratio must be above 0, not %s' % p['memory_ratio'], param='memory_ratio')
    client = PVEClient.from_module(module)
    try:
        groups = check_groups(p['groups'], p['defaults'])
        nodes = client.get('/nodes') or []
        guests = client.get('/cluster/resources', type='vm') or []
        planner = Planner(p, nodes, guests,
                          lambda e: client.get('/nodes/%s/%s/%s/config' % (e['node'], e.get('type', 'qemu'), e['vmid'])))
        planner.plan(groups)
        result = planner.report()
    except PlanError as err:
        client.close()
        module.fail_json(msg=str(err))
    except PVEError as err:
        client.close()
        module.fail_json(msg=err.message, failure=err.to_dict())
    client.close()
    module.exit_json(**result)


if __name__ == '__main__':
    main()
