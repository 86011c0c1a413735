# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The rebalance planner: pure functions over what /cluster/resources and the HA config say.

A plan is a list of moves (guest, from, to, why) that, carried out in order, brings every eligible node's load
within `threshold` of the cluster's mean load, after the hard rules are met: a node in maintenance is emptied,
guests back from maintenance go home, pinned guests sit on their nodes, anti-affinity groups are apart. Nothing
here talks to Proxmox; the module reads, this plans, the role migrates.

Load is memory or CPU, `used` (what the guests use now: /cluster/resources mem and cpu) or `assigned` (what they
are configured with: maxmem and maxcpu); only running guests count. A node's load is its fraction of its own
capacity, and the mean is the cluster's total load over its total capacity, so nodes of different sizes are
compared fairly.

Affinity: guests sharing an affinity tag (or a positive HA resource-affinity rule) move together as one unit;
guests sharing an anti-affinity tag (or a negative rule) never share a node. Pins and HA node-affinity rules
restrict where a guest may go. A planned move is never undone later in the same plan: each unit moves once.
"""

from __future__ import annotations

from ansible_collections.pve.cloud.plugins.module_utils import propstring as ps

# HA states in which the HA manager is busy with the guest, or has given up on it: a move would fight it
HA_BUSY = frozenset(('error', 'fence', 'freeze', 'recovery', 'migrate', 'relocate', 'request_stop'))
# a move must lower the spread by more than this (as a squared fraction) to be worth a migration
EPSILON = 1e-9


class PlanInputError(Exception):
    """Input the planner cannot use: names the parameter and the fix."""

    def __init__(self, param, message):
        super(PlanInputError, self).__init__(message)
        self.param = param
        self.message = message


class Settings(object):
    """What the caller asks for: the load measure, the threshold, maintenance and the tag names."""

    def __init__(self, metric='memory', mode='assigned', threshold=10, exclude_nodes=(), maintenance=(),
                 maintenance_end=(), balance=True, kinds=('qemu', 'lxc'), tag_prefix='rebalance-', max_moves=50,
                 parallel=2, parallel_per_node=2):
        self.metric = metric
        self.mode = mode
        self.threshold = threshold / 100.0
        self.exclude = frozenset(exclude_nodes or ())
        self.maintenance = frozenset(maintenance or ())
        self.maintenance_end = frozenset(maintenance_end or ())
        self.balance = balance
        self.kinds = frozenset(kinds or ())
        self.prefix = (tag_prefix or '').lower()
        self.max_moves = max_moves
        self.parallel = parallel
        self.parallel_per_node = parallel_per_node

    def tag(self, name, value=''):
        return ('%s%s%s' % (self.prefix, name, value)).lower()


def check_settings(settings, nodes):
    """Fail on bad input before anything is planned (and so before any write)."""
    if not 0 <= settings.threshold * 100 <= 100:
        raise PlanInputError('threshold', 'a percentage of node capacity: give 0 to 100, not %g'
                             % (settings.threshold * 100))
    for param, value in (('max_moves', settings.max_moves), ('parallel', settings.parallel),
                         ('parallel_per_node', settings.parallel_per_node)):
        if value < 1:
            raise PlanInputError(param, '%s must be 1 or more, not %s' % (param, value))
    if settings.prefix and not ps.TAG_RE.match(settings.prefix):
        raise PlanInputError('tag_prefix', "tag_prefix '%s' cannot start a PVE tag: use letters, digits and _ - + ."
                             % settings.prefix)
    if not settings.kinds:
        raise PlanInputError('kinds', 'kinds is empty: give qemu, lxc or both')
    known = dict((n['node'], n.get('status')) for n in nodes)
    for param in ('exclude_nodes', 'maintenance', 'maintenance_end'):
        value = getattr(settings, 'exclude' if param == 'exclude_nodes' else param)
        unknown = sorted(n for n in value if n not in known)
        if unknown:
            raise PlanInputError(param, "node '%s' is not in the cluster (nodes: %s): fix %s"
                                 % (unknown[0], ', '.join(sorted(known)), param))
    both = sorted(settings.maintenance & settings.maintenance_end)
    if both:
        raise PlanInputError('maintenance_end', "node '%s' is in both maintenance and maintenance_end: start or end "
                             "its maintenance, not both" % both[0])
    for node in sorted(settings.maintenance_end):
        if known[node] != 'online':
            raise PlanInputError('maintenance_end', "node '%s' is %s: its guests can go back only once it is online"
                                 % (node, known[node]))
    eligible = [n for n, status in known.items() if status == 'online' and n not in settings.exclude
                and n not in settings.maintenance]
    if settings.maintenance and not eligible:
        raise PlanInputError('maintenance', 'no online node is left outside maintenance and exclude_nodes to take '
                             'the guests of %s' % ', '.join(sorted(settings.maintenance)))


def tag_list(value):
    """Tags as /cluster/resources gives them (';'-separated), in order, without duplicates."""
    seen = []
    for tag in ps.split_tags(value):
        if tag not in seen:
            seen.append(tag)
    return seen


class Guest(object):
    def __init__(self, entry, settings, ha):
        self.vmid = int(entry['vmid'])
        self.name = entry.get('name')
        self.kind = entry.get('type')
        self.node = entry.get('node')
        self.home = self.node  # where the plan found it
        self.running = entry.get('status') == 'running'
        self.template = bool(int(entry.get('template') or 0))
        self.lock = entry.get('lock')
        self.tags = tag_list(entry.get('tags'))
        # PVE compares tags case-insensitively; the guest keeps its own spelling when tags are written back
        lower = [t.lower() for t in self.tags]
        self.sid = '%s:%s' % ('vm' if self.kind == 'qemu' else 'ct', self.vmid)
        self.ha = ha.get(self.sid)
        self.hastate = entry.get('hastate') or (self.ha or {}).get('state')
        self.maxmem = int(entry.get('maxmem') or 0)
        self.mem = int(entry.get('mem') or 0)
        self.maxcpu = float(entry.get('maxcpu') or 0)
        self.cpu = float(entry.get('cpu') or 0)
        self.unit = None
        s = settings
        self.ignored = s.tag('ignore') in lower
        self.pins = [t[len(s.tag('pin-')):] for t in self.tags if t.lower().startswith(s.tag('pin-'))]
        self.affinity = [t for t in lower if t.startswith(s.tag('affinity-'))]
        self.anti = [t for t in lower if t.startswith(s.tag('anti-affinity-'))]
        self.homes = [t for t in lower if t.startswith(s.tag('home-'))]

    def load(self, settings):
        """This guest's share of its node's load (0 when it is not running)."""
        if not self.running or self.template:
            return 0.0
        if settings.metric == 'memory':
            return float(self.mem if settings.mode == 'used' else self.maxmem)
        return self.cpu * self.maxcpu if settings.mode == 'used' else self.maxcpu

    def label(self):
        return '%s %s%s' % ('VM' if self.kind == 'qemu' else 'CT', self.vmid, " ('%s')" % self.name if self.name else '')


class Node(object):
    def __init__(self, entry, settings):
        self.name = entry['node']
        self.status = entry.get('status') or 'unknown'
        self.online = self.status == 'online'
        self.maxmem = int(entry.get('maxmem') or 0)
        self.mem = int(entry.get('mem') or 0)
        self.maxcpu = float(entry.get('maxcpu') or 0)
        self.cpu = float(entry.get('cpu') or 0)
        self.capacity = float(self.maxmem if settings.metric == 'memory' else self.maxcpu)
        # a node listed without figures (no Sys.Audit there) cannot be compared: it takes no guests
        self.eligible = (self.online and self.name not in settings.exclude and self.name not in settings.maintenance
                         and self.capacity > 0)
        self.base = 0.0  # the host's own load, outside its guests (used mode)
        self.load = 0.0
        self.used_mem = self.mem  # for the fit check: memory in use now, moved guests accounted for
        self.guests = set()

    def fraction(self, extra=0.0):
        return (self.load + extra) / self.capacity if self.capacity else 0.0


class HARules(object):
    """Where the HA manager lets a guest run, and which HA guests stay together or apart.

    PVE 9 node-affinity rules: pve-ha-manager runs a guest on the online nodes of the highest priority among the
    rule's nodes (and moves it back there when failback is on), anywhere else only when none is online and the
    rule is not strict. PVE 8 HA groups say the same with `restricted`.
    """

    def __init__(self, rules=(), groups=()):
        self.node_rules = {}
        self.positive, self.negative = [], []
        for rule in rules or []:
            if str(rule.get('disable') or 0) == '1':
                continue
            resources = [r.strip() for r in str(rule.get('resources') or '').split(',') if r.strip()]
            if rule.get('type') == 'node-affinity':
                for sid in resources:
                    self.node_rules[sid] = (rule.get('rule'), parse_priorities(rule.get('nodes')),
                                            str(rule.get('strict') or 0) == '1')
            elif rule.get('type') == 'resource-affinity':
                (self.positive if rule.get('affinity') == 'positive' else self.negative).append(
                    (rule.get('rule'), resources))
        self.groups = dict((g.get('group'), (g.get('group'), parse_priorities(g.get('nodes')),
                                             str(g.get('restricted') or 0) == '1')) for g in groups or [])

    def allowed(self, guest, usable):
        """The nodes HA lets `guest` run on, out of `usable` (online, not in maintenance); None: any."""
        rule = self.node_rules.get(guest.sid)
        if rule is None and guest.ha and guest.ha.get('group'):
            rule = self.groups.get(guest.ha['group'])
        if rule is None:
            return None, None
        name, priorities, strict = rule
        online = dict((n, p) for n, p in priorities.items() if n in usable)
        if not online:
            return (set(), 'HA rule %s is strict and none of its nodes is available' % name) if strict else (None, None)
        top = max(online.values())
        return set(n for n, p in online.items() if p == top), 'HA rule %s' % name


def parse_priorities(text):
    """'pve1:2,pve2' -> {'pve1': 2, 'pve2': 0} (PVE's default priority is 0)."""
    out = {}
    for part in str(text or '').split(','):
        name, dummy, prio = part.strip().partition(':')
        if name:
            out[name] = int(prio) if prio.strip().isdigit() else 0
    return out


class Planner(object):
    def __init__(self, settings, nodes, guests, ha_resources=(), ha_rules=(), ha_groups=()):
        check_settings(settings, nodes)
        self.s = settings
        ha = dict((r.get('sid'), r) for r in ha_resources or [])
        self.nodes = dict((n['node'], Node(n, settings)) for n in nodes)
        self.guests = dict((int(e['vmid']), Guest(e, settings, ha)) for e in guests
                           if e.get('type') in ('qemu', 'lxc') and e.get('vmid') is not None)
        self.rules = HARules(ha_rules, ha_groups)
        self.moves, self.unplaced, self.warnings = [], [], []
        for g in self.guests.values():
            node = self.nodes.get(g.node)
            if node is not None:
                node.guests.add(g.vmid)
                node.load += g.load(settings)
        for node in self.nodes.values():
            if settings.mode == 'used':
                # the node's own figure includes its guests; what is left is the host's share, which does not move
                total = node.mem if settings.metric == 'memory' else node.cpu * node.maxcpu
                node.base = max(0.0, total - node.load)
                node.load += node.base
        self.before = self.node_report()
        self.units = self.build_units()
        self.anti = self.build_anti()
        for g in self.guests.values():
            for pin in g.pins:
                if pin not in self.nodes:
                    self.warnings.append("%s is pinned to node '%s', which is not in the cluster (tag %s)"
                                         % (g.label(), pin, self.s.tag('pin-', pin)))

    # -- groups ----------------------------------------------------------------------------------

    def build_units(self):
        """Guests that move together: affinity tags and positive HA resource-affinity rules, merged."""
        parent = dict((v, v) for v in self.guests)

        def find(v):
            while parent[v] != v:
                parent[v] = parent[parent[v]]
                v = parent[v]
            return v

        groups = {}
        for g in self.guests.values():
            for tag in g.affinity:
                groups.setdefault(tag, []).append(g.vmid)
        sids = dict((g.sid, g.vmid) for g in self.guests.values())
        for name, resources in self.rules.positive:
            groups.setdefault('ha:%s' % name, []).extend(sids[s] for s in resources if s in sids)
        for members in groups.values():
            for v in members[1:]:
                parent[find(v)] = find(members[0])
        units = {}
        for v in sorted(self.guests):
            units.setdefault(find(v), []).append(v)
        for members in units.values():
            for v in members:
                self.guests[v].unit = tuple(members)
        return sorted(set(g.unit for g in self.guests.values()))

    def build_anti(self):
        """{vmid: {group name: vmids of the other members}}: guests that must not share a node."""
        groups = {}
        for g in self.guests.values():
            for tag in g.anti:
                groups.setdefault(tag, set()).add(g.vmid)
        sids = dict((g.sid, g.vmid) for g in self.guests.values())
        for name, resources in self.rules.negative:
            groups.setdefault('HA rule %s' % name, set()).update(sids[s] for s in resources if s in sids)
        anti = {}
        for name, members in groups.items():
            for v in members:
                anti.setdefault(v, {})[name] = members - set([v])
        return anti

    # -- constraints -----------------------------------------------------------------------------

    def usable(self):
        return set(n for n, node in self.nodes.items() if node.eligible)

    def allowed(self, guest, relax_pins=False):
        """(nodes the guest may go to, why the others are out); None in the first place: no limit."""
        usable = self.usable()
        allowed, why = usable, None
        pins = set(p for p in guest.pins if p in self.nodes)
        if pins:
            if relax_pins and not pins & usable:
                pins = usable  # maintenance wins over a pin to the node being emptied
            allowed, why = allowed & pins, 'pinned to %s' % ', '.join(sorted(pins))
        ha, ha_why = self.rules.allowed(guest, usable)
        if ha is not None:
            allowed, why = allowed & ha, ha_why
        return allowed, why

    def may_go(self, unit, target, relax_pins=False):
        """None when every member of `unit` may go to `target`, else the reason it may not."""
        node = self.nodes[target]
        need = 0
        for v in unit:
            g = self.guests[v]
            allowed, why = self.allowed(g, relax_pins)
            if target not in allowed:
                return why or 'node %s is not eligible' % target
            for group, others in self.anti.get(v, {}).items():
                clash = [o for o in others if o not in unit and self.guests[o].node == target]
                if clash:
                    return 'anti-affinity %s with %s' % (group, self.guests[clash[0]].label())
            if g.node != target:
                need += g.maxmem
        if node.maxmem and node.used_mem + need > node.maxmem:
            return 'not enough free memory on %s' % target
        return None

    def movable(self, g, maintenance=False):
        """None when the planner may move `g`, else why not."""
        if g.template:
            return 'template'
        if g.ignored:
            return 'tagged %s' % self.s.tag('ignore')
        if g.kind not in self.s.kinds:
            return 'kind %s is not in kinds' % g.kind
        if g.lock:
            return 'locked (%s)' % g.lock
        if g.hastate in HA_BUSY:
            return 'HA state %s' % g.hastate
        if not maintenance and not g.running:
            return 'not running'
        return None

    # -- moving ----------------------------------------------------------------------------------

    def move(self, unit, target, why, tags=None):
        dest = self.nodes[target]
        for v in unit:
            g = self.guests[v]
            if g.node == target and tags is None:
                continue
            source = self.nodes.get(g.node)
            load = g.load(self.s)
            if source is not None and g.node != target:
                source.guests.discard(v)
                source.load -= load
                source.used_mem -= g.mem
                dest.guests.add(v)
                dest.load += load
                dest.used_mem += g.mem
            self.moves.append(dict(vmid=g.vmid, guest=g.name, kind=g.kind, source=g.node, target=target, why=why,
                                   running=g.running, ha=g.ha is not None, tags=tags, group=min(unit)))
            g.node = target

    def spread(self):
        """Sum of the squared distances of the eligible nodes' loads from the mean: what balancing lowers."""
        nodes = [n for n in self.nodes.values() if n.eligible and n.capacity]
        mean = self.mean()
        return sum((n.fraction() - mean) ** 2 for n in nodes)

    def mean(self):
        nodes = [n for n in self.nodes.values() if n.eligible and n.capacity]
        capacity = sum(n.capacity for n in nodes)
        return sum(n.load for n in nodes) / capacity if capacity else 0.0

    def balanced(self):
        mean = self.mean()
        return all(abs(n.fraction() - mean) <= self.s.threshold + EPSILON
                   for n in self.nodes.values() if n.eligible and n.capacity)

    def unit_load(self, unit):
        return sum(self.guests[v].load(self.s) for v in unit)

    # -- the steps -------------------------------------------------------------------------------

    def plan(self):
        self.come_home()
        self.evacuate()
        self.repair()
        if self.s.balance:
            self.rebalance()
        return self.report()

    def come_home(self):
        """Guests that carry the home tag of a node whose maintenance ends go back there, and lose the tag."""
        for node in sorted(self.s.maintenance_end):
            tag = self.s.tag('home-', node)
            for g in sorted((g for g in self.guests.values() if tag in g.homes), key=lambda g: g.vmid):
                self.move((g.vmid,), node, 'back from maintenance',
                          tags=[t for t in g.tags if t.lower() != tag])

    def evacuate(self):
        """Every guest of a node in maintenance (running or not) leaves it; it remembers its home in a tag."""
        units = [u for u in self.units if any(self.guests[v].node in self.s.maintenance for v in u)]
        for unit in sorted(units, key=lambda u: (-self.unit_load(u), u)):
            leaving = tuple(v for v in unit if self.guests[v].node in self.s.maintenance)
            blocked = [(v, self.movable(self.guests[v], maintenance=True)) for v in leaving]
            blocked = [(v, why) for v, why in blocked if why]
            if blocked:
                for v, why in blocked:
                    self.stay(self.guests[v], why)
                leaving = tuple(v for v in leaving if v not in dict(blocked))
                if not leaving:
                    continue
            staying = set(self.guests[v].node for v in unit if v not in leaving)
            target, reasons = self.best_target(leaving, prefer=staying, relax_pins=True)
            if target is None:
                for v in leaving:
                    self.stay(self.guests[v], 'no node may take it: %s' % '; '.join(reasons))
                continue
            for v in leaving:
                g = self.guests[v]
                tags = g.tags if g.homes else g.tags + [self.s.tag('home-', g.node)]
                self.move((v,), target, 'maintenance of %s' % g.node, tags=tags)

    def stay(self, g, why):
        self.unplaced.append(dict(vmid=g.vmid, guest=g.name, kind=g.kind, node=g.node, running=g.running, why=why))

    def best_target(self, unit, prefer=(), relax_pins=False):
        """The eligible node `unit` fits best on (one of `prefer` first, then the least loaded afterwards)."""
        load = self.unit_load(unit)
        options, reasons = [], []
        for name in sorted(self.usable()):
            if all(self.guests[v].node == name for v in unit):
                continue
            why = self.may_go(unit, name, relax_pins)
            if why:
                reasons.append('%s: %s' % (name, why))
                continue
            options.append((name not in prefer, self.nodes[name].fraction(load), name))
        return (min(options)[2] if options else None), reasons

    def repair(self):
        """Affinity groups onto one node, pinned guests onto their nodes, and anti-affinity groups apart, before any
        balancing."""
        for unit in self.units:
            nodes = [self.guests[v].node for v in unit]
            if len(set(nodes)) < 2 or any(self.movable(self.guests[v]) for v in unit) or self.moved() & set(unit):
                continue
            # where most of the group is already (a wave that moved part of it, or a new member); of those, the
            # least loaded afterwards, which is where the balancing that split it was heading
            prefer = [n for n in set(nodes) if nodes.count(n) == max(nodes.count(m) for m in nodes)]
            target = self.best_target(unit, prefer=prefer)[0]
            if target is not None:
                self.move(unit, target, 'affinity %s' % ', '.join(sorted(set(
                    t for v in unit for t in self.guests[v].affinity))) or 'HA rule')
        for g in sorted(self.guests.values(), key=lambda g: g.vmid):
            if self.movable(g) or g.vmid in self.moved():
                continue
            allowed, why = self.allowed(g)
            if why and g.node not in allowed and allowed:
                target = self.best_target(g.unit)[0]
                if target in allowed:
                    self.move(g.unit, target, why)
        for g in sorted(self.guests.values(), key=lambda g: -g.vmid):
            # the newest member of a clashing pair moves: the older one was there first
            clash = [n for n, others in self.anti.get(g.vmid, {}).items()
                     if any(self.guests[o].node == g.node for o in others)]
            if not clash or self.movable(g) or g.vmid in self.moved():
                continue
            target = self.best_target(g.unit)[0]
            if target is not None:
                self.move(g.unit, target, 'anti-affinity %s' % clash[0])

    def moved(self):
        return set(m['vmid'] for m in self.moves)

    def rebalance(self):
        """Greedy: the single unit move that lowers the spread most, until every node is within the threshold."""
        while len(self.moves) < self.s.max_moves and not self.balanced():
            mean, spread, moved = self.mean(), self.spread(), self.moved()
            best = None
            for unit in self.units:
                nodes = set(self.guests[v].node for v in unit)
                if len(nodes) != 1 or moved & set(unit) or any(self.movable(self.guests[v]) for v in unit):
                    continue
                source = self.nodes.get(nodes.pop())
                if source is None or not source.eligible or source.fraction() <= mean:
                    continue
                load = self.unit_load(unit)
                for target in sorted(self.usable() - set([source.name])):
                    dest = self.nodes[target]
                    if dest.fraction() >= source.fraction() or self.may_go(unit, target):
                        continue
                    after = spread - (source.fraction() - mean) ** 2 - (dest.fraction() - mean) ** 2 \
                        + (source.fraction(-load) - mean) ** 2 + (dest.fraction(load) - mean) ** 2
                    if after < spread - EPSILON:
                        key = (round(after, 12), load, unit, target)
                        if best is None or key < best[0]:
                            best = (key, unit, source.name, target)
            if best is None:
                break
            unit, source, target = best[1:]
            self.move(unit, target, '%s %s above the mean %s' % (
                'load' if len(unit) == 1 else 'affinity group load', self.percent(self.nodes[source].fraction()),
                self.percent(mean)))

    @staticmethod
    def percent(fraction):
        return '%.1f%%' % (fraction * 100)

    # -- the result ------------------------------------------------------------------------------

    def node_report(self):
        return dict((n.name, dict(load=n.load, percent=round(n.fraction() * 100, 1), guests=len(n.guests)))
                    for n in self.nodes.values())

    def report(self):
        after = self.node_report()
        nodes = []
        for name in sorted(self.nodes):
            n = self.nodes[name]
            nodes.append(dict(node=name, status=n.status, eligible=n.eligible, capacity=n.capacity,
                              load_before=self.before[name]['load'], load_after=after[name]['load'],
                              percent_before=self.before[name]['percent'], percent_after=after[name]['percent'],
                              guests_before=self.before[name]['guests'], guests_after=after[name]['guests']))
        return dict(moves=self.moves, waves=waves(self.moves, self.s.parallel, self.s.parallel_per_node),
                    nodes=nodes, unplaced=self.unplaced, mean_percent=round(self.mean() * 100, 1),
                    balanced=self.balanced(), warnings=self.warnings)


def waves(moves, parallel, per_node):
    """Moves split into waves of at most `parallel`, each node the source or target of at most `per_node` moves of
    a wave, the moves of one affinity group (`group`) in one wave where the bounds allow (else as much as they
    allow, the rest in the next waves); the order of the plan is kept (lists of indexes into `moves`)."""
    blocks = []
    for i, move in enumerate(moves):
        if blocks and move.get('group') is not None and moves[blocks[-1][-1]].get('group') == move['group']:
            blocks[-1].append(i)
        else:
            blocks.append([i])

    def ends(indexes):
        count = {}
        for i in indexes:
            for n in set([moves[i]['source'], moves[i]['target']]):
                count[n] = count.get(n, 0) + 1
        return count

    def fits(wave, indexes):
        busy, more = ends(wave), ends(indexes)
        return len(wave) + len(indexes) <= parallel and all(busy.get(n, 0) + c <= per_node for n, c in more.items())

    out = []
    while blocks:
        wave = []
        for block in blocks:
            if fits(wave, block):
                wave.extend(block)
        if not wave:
            # a group larger than the bounds: its first moves now, the others in the next waves
            wave = blocks[0][:1]
            for i in blocks[0][1:]:
                if not fits(wave, [i]):
                    break
                wave.append(i)
        blocks = [[i for i in b if i not in wave] for b in blocks]
        blocks = [b for b in blocks if b]
        out.append(sorted(wave))
    return out
