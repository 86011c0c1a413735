# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The guest workflow every guest kind (qemu, lxc) shares, on top of the kind-free base.py: finding
a guest cluster-wide, allocating VMIDs safely, creating or cloning without ever making a second
guest, converging a config in one call, power transitions and reporting.

What a state does is the STATES table below. A kind subclasses PVEGuestModule, sets kind, label and
schema, and fills in the hooks (what it wants, how it is created, how addresses are read).
"""

from __future__ import annotations

import random

from ansible_collections.pve.cloud.plugins.module_utils import propstring as ps
from ansible_collections.pve.cloud.plugins.module_utils.addresses import addresses
from ansible_collections.pve.cloud.plugins.module_utils import validate, volumes
from ansible_collections.pve.cloud.plugins.module_utils.api import Backoff, PVEError, api_argument_spec
from ansible_collections.pve.cloud.plugins.module_utils.base import (MAYBE_APPLIED_ATTEMPTS, InputError, PVEModule,
                                                                     content_types)

# Values PVE returns in place of secrets.
MASKED = '**********'
SECRET_KEYS = frozenset(('cipassword', 'password'))
# The status a power action leaves the guest in: after a lost answer, what to look for before sending it again.
POWER_STATUS = dict(start='running', shutdown='stopped', stop='stopped')


class Guest(object):
    """A guest as /cluster/resources shows it (or as read on its node: then `pending` holds the /pending answer)."""

    def __init__(self, vmid, node, kind, name=None, status=None, template=False, lock=None, pool=None, tags=None):
        self.pending = None
        self.vmid = int(vmid)
        self.node = node
        self.kind = kind
        self.name = name
        self.status = status
        self.template = bool(int(template or 0))
        self.lock = lock or None
        self.pool = pool or None
        self.tags = tags

    @classmethod
    def from_resource(cls, entry):
        return cls(entry['vmid'], entry.get('node'), entry.get('type'), name=entry.get('name'),
                   status=entry.get('status'), template=entry.get('template'), lock=entry.get('lock'),
                   pool=entry.get('pool'), tags=entry.get('tags'))

    @property
    def running(self):
        return self.status == 'running'


def config_call_params(changes, digest=None):
    """Parameters of one config write: set the changed keys, delete those set to None."""
    params = dict((k, v) for k, v in changes.items() if v is not None)
    deletes = sorted(k for k, v in changes.items() if v is None)
    if deletes:
        params['delete'] = ','.join(deletes)
    if digest:
        params['digest'] = digest
    return params


def config_from_pending(entries):
    """The config GET .../config answers (pending values applied, pending deletions left out, with its digest),
    from a GET .../pending answer: PVE builds both from the same load_config hash, digest included."""
    config = {}
    for entry in entries or []:
        if entry.get('delete') or not entry.get('key'):
            continue
        if 'pending' in entry:
            config[entry['key']] = entry['pending']
        elif 'value' in entry:
            config[entry['key']] = entry['value']
    return config


def redact(config):
    """A config without its digest and with secrets masked, as returned to the user."""
    out = {}
    for key, value in (config or {}).items():
        if key == 'digest':
            continue
        out[key] = MASKED if key in SECRET_KEYS and value else value
    return out


# What each state does, in order: read a row left to right. Every step is the method step_<name>
# below; a step with nothing to do does nothing (starting a running guest is a no-op).
STATES = dict(
    present=('ensure', 'migrate', 'plan', 'configure', 'pool', 'report'),
    started=('ensure', 'migrate', 'plan', 'configure', 'pool', 'start', 'report'),
    # shut down before configuring: a stopped guest takes the config at once instead of as pending
    stopped=('ensure', 'migrate', 'plan', 'shutdown', 'configure', 'pool', 'report'),
    restarted=('ensure', 'migrate', 'plan', 'configure', 'pool', 'restart', 'report'),
    template=('ensure', 'migrate', 'plan', 'shutdown', 'configure', 'pool', 'template', 'report'),
    absent=('destroy',),
)


class PVEGuestModule(PVEModule):
    """The guest workflow (find, create or clone, configure, pool, power, report) for every kind.

    A kind sets the class attributes below (kind and label have no default) and fills in the hooks:
    desired() (the managed keys and volumes, checked before any call), create_params(),
    read_interfaces(); optionally plan_extra(), after_configure(), managed_extra().
    """

    kind = None             # path segment and /cluster/resources type: 'qemu', 'lxc'
    label = None            # how PVE names the guest in its messages: 'VM', 'CT'
    schema = None           # compare.Schema of the kind
    name_key = 'name'       # the config key (and option) that names the guest: 'name', 'hostname'
    config_method = 'POST'  # QEMU config writes are tasks; LXC's are a synchronous PUT
    volume_re = None        # config keys planned as volumes (grown, never shrunk)
    # with a target storage, a clone to another node no longer needs the source's volumes on shared
    # storage (pve-container) or still does (qemu-server)
    clone_storage_overrides_source = False
    move_hint = 'move it first'
    no_address_hint = ''
    default_timeouts = dict(create=900, clone=900, config=300, resize=300, start=120, shutdown=180, stop=60,
                            reboot=300, destroy=300, template=300, lock=60, ip=300, migrate=1800)
    max_allocation_attempts = 12

    def __init__(self, module):
        if not (self.kind and self.label and self.schema):
            raise TypeError('%s must set kind, label and schema' % type(self).__name__)
        super(PVEGuestModule, self).__init__(module)
        self.want, self.volumes, self.origin = {}, {}, {}
        self.guest = self.config = None
        self.created = False
        self.changes, self.grows = {}, {}
        self.writes_at_read = 0

    # -- naming --------------------------------------------------------------------------------

    def path(self, guest, suffix=''):
        return '/nodes/%s/%s/%s%s' % (guest.node, self.kind, guest.vmid, suffix)

    def where(self, guest):
        return '%s on node %s' % (self.describe(guest), guest.node)

    def describe(self, guest):
        return '%s %s%s' % (self.label, guest.vmid, " ('%s')" % guest.name if guest.name else '')

    # -- the desired state (hooks fill it in desired()) ----------------------------------------

    def desired(self):
        raise NotImplementedError

    def create_params(self):
        """Everything PVE needs to create the guest in one call (without vmid)."""
        raise NotImplementedError

    def read_interfaces(self, guest):
        raise NotImplementedError

    def plan_extra(self, config, changes):
        """Kind-specific changes on top of the managed keys (QEMU adds its cloud-init drive)."""

    def after_configure(self, guest, before):
        """Called after the config was written (QEMU regenerates its cloud-init drive)."""

    def managed_extra(self, config):
        """Config keys to show in the diff besides the managed ones."""
        return set()

    def taken(self, key, param):
        if key in self.origin:
            raise InputError(param, "'%s' is also set by %s: set it in one place" % (key, self.origin[key]))
        self.origin[key] = param

    def want_key(self, key, value, param, allow_none=False):
        """Manage `key`: value None with allow_none means 'must be absent'."""
        self.taken(key, param)
        if value is None and not allow_none:
            return
        self.want[key] = validate.check(self.schema, key, self.schema.normalize(key, value, param), param)

    def want_volume(self, slot, value, param, **options):
        self.taken(slot, param)
        self.volumes[slot] = None if value is None else volumes.parse_volume(self.schema, slot, value, param,
                                                                             **options)

    def config_params(self):
        """The managed keys as PVE takes them at creation: values, and volumes as STORAGE:SIZE."""
        params = dict((key, self.schema.wire(key, want)) for key, want in self.want.items() if want is not None)
        for slot, volume in self.volumes.items():
            if volume is not None:
                params[slot] = volume.create_value(self.origin[slot])
        if self.params['pool']:
            params['pool'] = self.params['pool']
        return params

    def plan_config(self, config):
        """Changed keys as {key: value to send or None} and volumes to grow {slot: bytes}."""
        changes = self.schema.changes(config, self.want)
        grows = {}
        for slot, volume in self.volumes.items():
            have = config.get(slot)
            if volume is None:
                if have is not None:
                    changes[slot] = None
                continue
            value, grow = volumes.plan_volume(volume, have, self.origin[slot], self.move_hint)
            if value is not None:
                changes[slot] = value
            if grow and have is not None:
                grows[slot] = grow
        self.plan_extra(config, changes)
        return changes, grows

    # -- running the state table ---------------------------------------------------------------

    def execute(self):
        validate.check_option(self.schema, 'vmid', self.params.get('vmid'))
        self.desired()
        for step in STATES[self.params['state']]:
            if getattr(self, 'step_' + step)() is False:
                break

    def step_destroy(self):
        p = self.params
        guest = self.locate()
        if guest is None:
            self.permission_wall(partial_ok=True)
            self.result.update(vmid=p['vmid'], status='absent', diff=dict(before={}, after={}))
            return
        self.absent(guest)

    def step_ensure(self):
        """Find the guest; create or clone it when it is missing. False: check mode, nothing to read."""
        p = self.params
        name = p[self.name_key]
        guest = self.locate()
        if guest is None:
            if p['vmid'] is not None and name:
                namesakes = [str(e['vmid']) for e in self.resources() if e.get('name') == name]
                if namesakes:
                    self.module.warn("%s %s does not exist, so it is created, but VMID %s is also named '%s'"
                                     % (self.label, p['vmid'], ', '.join(namesakes), name))
            self.permission_wall(can_do=('/pool/%s' % p['pool'] if p['pool'] else '/vms', 'VM.Allocate'))
            self.created = True
            guest = self.clone() if p['clone'] else self.create()
            if guest is None:
                return False
        elif guest.template and p['state'] in ('started', 'restarted'):
            raise InputError('state', '%s is a template and is never started: clone it instead' %
                             self.describe(guest))
        self.guest = guest
        self.result.update(vmid=guest.vmid, node=guest.node)
        self.config = config_from_pending(guest.pending) if guest.pending is not None else self.read_config(guest)
        self.writes_at_read = self.client.writes
        return True

    def step_migrate(self):
        """Move an existing guest to `node` when migrate is set (else report that it is elsewhere)."""
        p, guest = self.params, self.guest
        if self.created or not p['node'] or guest.node == p['node']:
            return
        if not p['migrate']:
            self.module.warn('%s is on node %s, not %s: set migrate: true to move it there'
                             % (self.describe(guest), guest.node, p['node']))
            return
        self.check_node(p['node'])
        self.check_migration(guest, p['node'])
        params = dict(target=p['node'])
        if guest.running:
            # QEMU moves live; a container only by a restart on the target
            params['online' if self.kind == 'qemu' else 'restart'] = 1
        if p['with_local_disks'] and self.kind == 'qemu':
            params['with-local-disks'] = 1
        if p['target_storage']:
            params['targetstorage' if self.kind == 'qemu' else 'target-storage'] = p['target_storage']
        self.record_diff('node', guest.node, p['node'])
        if self.plan('migrate', source=guest.node, target=p['node'], online=guest.running):
            self.task('POST', self.path(guest, '/migrate'), params, timeout=self.timeouts['migrate'],
                      what='migration of %s to node %s' % (self.describe(guest), p['node']), holder=self.where(guest))
            self.wait_moved(guest, p['node'])
        guest.node, guest.pending = p['node'], None
        self.result['node'] = guest.node
        if not self.check_mode:
            self.config = self.read_config(guest)
            self.writes_at_read = self.client.writes

    def check_migration(self, guest, target):
        """PVE's own precondition answer (GET .../migrate), before any write."""
        pre = self.client.get(self.path(guest, '/migrate'), target=target) or {}
        # qemu-server answers not_allowed_nodes, pve-container not-allowed-nodes
        refused = (pre.get('not_allowed_nodes') or pre.get('not-allowed-nodes') or {}).get(target) or {}
        reasons = ['%s: %s' % (k, ', '.join(str(x) for x in v) if isinstance(v, list) else v)
                   for k, v in sorted(refused.items()) if v]
        if reasons:
            raise InputError('node', '%s cannot migrate to node %s (%s)'
                             % (self.describe(guest), target, '; '.join(reasons)))
        local = [d.get('volid') for d in pre.get('local_disks') or [] if not d.get('is_unused')]
        if local and guest.running and self.kind == 'qemu' and not self.params['with_local_disks']:
            raise InputError('with_local_disks', '%s runs with disks on local storage (%s): set with_local_disks: '
                                                 'true to copy them live' % (self.describe(guest), ', '.join(local)))
        resources = pre.get('local_resources') or []
        if resources:
            raise InputError('node', '%s uses local resources (%s) and cannot migrate'
                             % (self.describe(guest), ', '.join(str(r) for r in resources)))

    def wait_moved(self, guest, target):
        """An HA-managed guest is moved by the HA manager after the task: wait until the cluster shows it there."""
        wait = Backoff(self.timeouts['migrate'], first=0.2, cap=5.0)
        while True:
            entry = [e for e in self.resources(refresh=True) if e.get('vmid') == guest.vmid]
            if entry and entry[0].get('node') == target:
                return
            if not wait.sleep():
                raise PVEError('%s is still not on node %s after %ss (timeouts.migrate)'
                               % (self.describe(guest), target, self.timeouts['migrate']), kind='timeout')

    def step_plan(self):
        p, guest, config = self.params, self.guest, self.config
        self.changes, self.grows = self.plan_config(config)
        if guest.template and (self.changes or self.grows) and p['state'] != 'template':
            raise InputError('state', '%s is a template; the task would change %s. Templates are changed only with '
                                      'state: template' % (self.describe(guest),
                                                           ', '.join(sorted(self.changes) or self.grows)))
        if p['pool'] and not self.created and guest.pool != p['pool']:
            self.check_pool(p['pool'])
        if not self.created:
            self.check_volumes(guest.node, dict((s, v) for s, v in self.volumes.items() if s in self.changes
                                                and config.get(s) is None))
        self.record_config_diff(config, self.changes, self.grows)

    def record_config_diff(self, config, changes, grows, created=None):
        """The managed keys before and after, from the plan (a new guest has no before)."""
        created = self.created if created is None else created
        managed = set(self.want) | set(self.volumes) | set(changes) | self.managed_extra(config)
        for key in managed:
            after = changes[key] if key in changes else config.get(key)
            if key in grows and after is not None:
                after = volumes.with_size(self.schema, key, after, grows[key])
            self.record_diff(key, None if created else config.get(key), after)

    def step_shutdown(self):
        if self.guest.running:
            self.stop(self.guest)

    def step_configure(self):
        guest = self.guest
        self.converge(guest)
        self.after_configure(guest, self.config)

    def step_pool(self):
        self.set_pool(self.guest)

    def step_start(self):
        if not self.guest.running:
            self.start(self.guest)

    def step_restart(self):
        if self.guest.running:
            self.reboot(self.guest)
        else:
            self.start(self.guest)

    def step_template(self):
        guest = self.guest
        if guest.template:
            return
        if self.plan('template'):
            self.task('POST', self.path(guest, '/template'), None, timeout=self.timeouts['template'],
                      what='conversion of %s to a template' % self.describe(guest), holder=self.where(guest))
        guest.template = True

    def step_report(self):
        p, guest = self.params, self.guest
        pending = {}
        if guest.running and not guest.template:
            # the /pending answer read when the guest was found on its node holds, unless something was written since
            known = guest.pending if self.client.writes == self.writes_at_read else None
            pending = self.read_pending(guest, known) if not (self.check_mode and self.result['changed']) else {}
            if pending and p.get('reboot_if_needed') and 'reboot' not in [a['action'] for a in self.result['actions']]:
                self.reboot(guest)
                pending = {} if not self.check_mode else pending
        config = self.config
        if self.client.writes != self.writes_at_read:
            config = self.read_config(guest)
        ip_addresses = []
        if p['wait_for_ip'] and not guest.running:
            self.module.warn('wait_for_ip: %s is not running, so it has no address to wait for' % self.describe(guest))
        elif p['wait_for_ip'] and not self.check_mode:
            ip_addresses = self.wait_for_addresses(guest, lambda: self.read_interfaces(guest))
        self.result.update(
            status=guest.status if guest.status in ('running', 'stopped') else 'stopped', template=guest.template,
            config=redact(config), diff=dict(before=redact(self.diff['before']), after=redact(self.diff['after'])),
            pending=pending, reboot_required=bool(pending), ip_addresses=ip_addresses)

    # -- finding guests ------------------------------------------------------------------------

    def resources(self, refresh=False):
        """Every guest of the cluster, from the one GET /cluster/resources of the run."""
        return [e for e in self.cluster_resources(refresh) if e.get('type') in ('qemu', 'lxc')]

    def locate(self):
        """The guest the task names (vmid, else name); None when there is none.

        Given vmid and node, the guest is read on that node (its /pending and status/current: no cluster-wide
        read). When that node answers that it has no such guest, or it is not the one named (other name, other
        kind, not in the pool asked for), the cluster-wide lookup decides, so a guest moved to another node is
        found there and never created a second time.
        """
        p = self.params
        if p['vmid'] is not None and p['node']:
            guest = self.read_on_node(int(p['vmid']), p['node'], p[self.name_key])
            if guest is not None:
                return guest
        return self.find(vmid=p['vmid'], name=p[self.name_key])

    def read_on_node(self, vmid, node, name):
        """The guest `vmid` as read on `node`, or None when that node does not have it as named."""
        guest = Guest(vmid, node, self.kind)
        pool = self.params['pool'] if self.params['state'] != 'absent' else None
        try:
            # the path names the kind: a guest of the other kind is 'does not exist' here, like one on another node
            entries = self.client.get(self.path(guest, '/pending')) or []
            config = config_from_pending(entries)
            if name and config.get(self.name_key) != name:
                return None
            # which pool a guest is in is not part of its config: only the pool asked for is looked at
            if pool and not self.in_pool(guest, pool):
                return None
            status = self.client.get(self.path(guest, '/status/current')) or {}
        except PVEError as err:
            # not there, or not visible to the caller: the cluster-wide lookup has the answer and the messages
            if err.reason == 'not_found' or err.status == 403:
                return None
            raise
        guest.name, guest.status, guest.pending = config.get(self.name_key), status.get('status'), entries
        guest.template = bool(int(config.get('template') or 0))
        guest.lock, guest.pool, guest.tags = config.get('lock') or None, pool or None, config.get('tags')
        return guest

    def find(self, vmid=None, name=None, param='name', refresh=False):
        """The guest with this vmid, else the one guest with this name; None when there is none.

        Two guests with the name (and no vmid) is an InputError listing both VMIDs.
        """
        guests = [Guest.from_resource(e) for e in self.resources(refresh) if e.get('vmid') is not None]
        if vmid is not None:
            for guest in guests:
                if guest.vmid == int(vmid):
                    if guest.kind != self.kind:
                        raise InputError('vmid', 'VMID %s is a %s guest, not %s: choose another vmid'
                                         % (vmid, guest.kind, self.kind))
                    return guest
            return None
        if name is None:
            return None
        named = [g for g in guests if g.name == name and g.kind == self.kind]
        if len(named) > 1:
            raise InputError(param, "%d %s guests are named '%s' (VMIDs %s): set vmid to pick one"
                             % (len(named), self.kind, name, ', '.join(str(g.vmid) for g in sorted(
                                 named, key=lambda g: g.vmid))))
        return named[0] if named else None

    # -- VMIDs, create and clone ---------------------------------------------------------------

    def next_vmid(self, attempt):
        """A free VMID. After a collision, jump ahead by a random amount so parallel runs spread out."""
        base = int(self.client.get('/cluster/nextid'))
        if attempt <= 1:
            return base
        for _try in range(5):
            candidate = base + random.randint(1, 4 * attempt)
            try:
                return int(self.client.get('/cluster/nextid', vmid=candidate))
            except PVEError as err:
                if err.status != 400:
                    raise
        return base

    def create_guest(self, node, name, send, what, timeout, vmid=None):
        """Create or clone a guest without ever making two: returns the new Guest.

        `send(vmid)` posts the create/clone write and returns the UPID. With no vmid, one is
        allocated and another is tried when PVE answers `already exists`. When the answer to the
        write is lost, the guest is looked up by vmid and name before anything is sent again.
        """
        attempt = lost = 0
        while True:
            attempt += 1
            new_id = vmid if vmid is not None else self.next_vmid(attempt)
            try:
                upid = send(new_id)
            except PVEError as err:
                if err.maybe_applied:
                    guest = self._recover_lost_create(new_id, name, node, timeout, what)
                    if guest is not None:
                        return guest
                    lost += 1
                    if lost >= MAYBE_APPLIED_ATTEMPTS:
                        raise
                    continue
                if vmid is None and err.reason == 'exists' and attempt < self.max_allocation_attempts:
                    # parallel runs took the same VMID: spread out before the next pick
                    Backoff(1.0, first=0.05 * attempt, jitter=True).sleep()
                    continue
                raise
            guest = Guest(new_id, node, self.kind, name=name, status='stopped')
            if upid:
                self.result['tasks'].append(upid)
                result = self.client.wait_task(upid, timeout=timeout, what='%s of %s' % (what, self.describe(guest)))
                for warning in result.warnings:
                    self.module.warn('%s: %s' % (what, warning))
            return guest

    def _recover_lost_create(self, vmid, name, node, timeout, what):
        """After a lost answer: the guest if PVE made it (waiting for its task), else None."""
        guest = self.find(vmid=vmid, refresh=True)
        if guest is None:
            return None
        if name and guest.name and guest.name != name:
            # another run took this VMID; ours was not created
            return None
        self.module.warn('lost the answer to the %s call for new %s %s; found that %s on node %s and waited for '
                         'its task instead of sending the call again' % (what, self.label, vmid, self.label, guest.node))
        self.wait_unlocked(guest, timeout, what, locks=('create', 'clone'))
        if self.find(vmid=vmid, refresh=True) is None:
            raise PVEError('%s of %s %s failed after its answer was lost: the guest is gone again; look at the task '
                           'log of node %s' % (what, self.label, vmid, guest.node), kind='task')
        return guest

    # -- create and clone ----------------------------------------------------------------------

    def create(self):
        """Create the guest on `node` in one call; the new Guest, or None in check mode."""
        p = self.params
        if not p['node']:
            raise InputError('node', '%s does not exist: set node (where to create it) or clone'
                             % (p[self.name_key] or p['vmid']))
        self.check_node(p['node'])
        self.check_volumes(p['node'], self.volumes)
        params = self.create_params()
        if p['pool']:
            self.check_pool(p['pool'])
        self.plan('create')
        if self.check_mode:
            return self.planned_only(p['node'], params)
        if p['pool']:
            # PVE checks tags at creation on /vms/VMID alone (GuestHelpers::assert_tag_permissions), before the
            # guest joins the pool, so a token granted on the pool only is refused; the config write right after
            # the create sets them, when the pool's ACL covers the guest.
            params.pop('tags', None)
        path = '/nodes/%s/%s' % (p['node'], self.kind)
        return self.create_guest(p['node'], p[self.name_key], lambda vmid: self.client.post(path, vmid=vmid, **params),
                                 'create', self.timeouts['create'], vmid=p['vmid'])

    def clone(self):
        """Clone `clone` to the new guest; the new Guest, or None in check mode."""
        p = self.params
        source = self.find_source()
        node = p['target'] or p['node'] or source.node
        if node != source.node:
            self.check_node(node, 'target' if p['target'] else 'node')
            self.check_clone_storage(source, node)
        if p['pool']:
            self.check_pool(p['pool'])
        self.plan('clone', source=source.vmid, full=p['full'])
        if self.check_mode:
            return self.planned_clone(source, node)
        params = {self.name_key: p[self.name_key], 'target': node if node != source.node else None, 'full': p['full'],
                  'storage': p['storage'], 'format': p.get('format'), 'pool': p['pool'], 'snapname': p['snapname']}
        path = self.path(source, '/clone')
        return self.create_guest(node, p[self.name_key], lambda vmid: self.client.post(path, newid=vmid, **params),
                                 'clone', self.timeouts['clone'], vmid=p['vmid'])

    def permission_wall(self, **options):
        """The guest named by the task was not found: fail before any write when the caller may not see it."""
        p = self.params
        what = '%s %s' % (self.label, p['vmid'] if p['vmid'] is not None else "'%s'" % p[self.name_key])
        reason = self.audit_wall(what, **options)
        if reason:
            raise PVEError(reason, kind='permission', reason='permission', path='/vms')

    def check_volumes(self, node, wanted):
        """New volumes, checked before any write: their storage exists on `node` and holds guest disks, and an
        import_from volume exists there."""
        content = 'images' if self.kind == 'qemu' else 'rootdir'
        for slot, volume in sorted(wanted.items()):
            if volume is None:
                continue
            param = self.origin.get(slot, slot)
            if volume.storage and not volume.file:
                self.check_storage(node, volume.storage, 'images' if volume.cloudinit else content, param)
            source = volumes.volume_storage(volume.import_from)
            if source:
                self.check_import(node, source, volume.import_from, param)

    def check_import(self, node, storage, volid, param):
        entry = self.check_storage(node, storage, 'import' if ':import/' in volid else 'images', param)
        listed = self.client.get('/nodes/%s/storage/%s/content' % (node, storage),
                                 content='import' if ':import/' in volid else 'images') or []
        volids = sorted(v.get('volid') for v in listed if v.get('volid'))
        if volid not in volids:
            raise InputError(param, "import_from '%s' does not exist on node '%s' (%s volumes on %s there: %s): "
                                    "upload or download it first, or fix the name"
                             % (volid, node, 'import' if ':import/' in volid else 'image', storage,
                                ', '.join(volids) or 'none'))
        return entry

    def find_source(self):
        source = self.params['clone']
        try:
            found = self.find(vmid=int(source), param='clone')
        except ValueError:
            found = self.find(name=source, param='clone')
        if found is None:
            # /cluster/resources lists only the guests the caller has VM.Audit on
            raise InputError('clone', "clone source '%s' does not exist in the cluster or is not visible: check the name "
                                      "or VMID of the template, or grant VM.Audit on it (its /vms/VMID or its pool)"
                             % source)
        return found

    def check_clone_storage(self, source, node):
        """A clone to another node, checked before anything is written with PVE's rules (qemu-server
        and pve-container clone_vm): the target `storage` must be shared and enabled on both nodes,
        and the source's volumes must be on shared storage (for LXC, unless a target storage is
        given); volumes that stay on the source's storages must be usable on the target.
        """
        p = self.params
        param = 'target' if p['target'] else 'node'
        content = 'images' if self.kind == 'qemu' else 'rootdir'
        shared = sorted(s for s, e in self.node_storages(node).items()
                        if str(e.get('shared')) == '1' and content in content_types(e))
        if p['storage']:
            self.check_storage(source.node, p['storage'], content)
            entry = self.check_storage(node, p['storage'], content)
            if str(entry.get('shared')) != '1':
                raise InputError('storage', "storage '%s' is local to each node, and PVE clones to another node ('%s') "
                                            "only onto shared storage: create the clone on the source's node (%s: %s), "
                                            "use shared storage, or pick a storage available on node '%s' that is "
                                            "shared (%s)" % (p['storage'], node, param, source.node, node,
                                                             ', '.join(shared) or 'there is none'))
            if self.clone_storage_overrides_source:
                return
        if p['snapname']:
            config = self.client.get(self.path(source, '/snapshot/%s/config' % p['snapname'])) or {}
        else:
            config = self.read_config(source)
        source_storages = self.node_storages(source.node)
        local = []
        for key, value in sorted(config.items()):
            storage = volumes.volume_storage(volumes.volume_of(self.schema, key, value))
            if storage is None or storage not in source_storages:
                continue  # a host path, or a storage this user cannot see: PVE decides
            if str(source_storages[storage].get('shared')) != '1':
                local.append('%s on %s' % (key, storage))
            elif not p['storage'] or 'media=cdrom' in value:
                self.check_storage(node, storage, 'iso' if 'media=cdrom' in value else content, param)
        if local:
            raise InputError(param, "%s cannot be cloned to node '%s': PVE clones across nodes only when every volume "
                                    "of the source is on shared storage%s, and %s %s local to node '%s'. Create the "
                                    "clone on the source's node (%s: %s) and migrate it, %s (shared there: %s)"
                             % (self.describe(source), node,
                                '' if self.clone_storage_overrides_source else
                                ' (a target storage does not change that)',
                                ', '.join(local), 'is' if len(local) == 1 else 'are', source.node, param, source.node,
                                'or set a shared target storage' if self.clone_storage_overrides_source else
                                "or keep the source's disks on shared storage", ', '.join(shared) or 'none'))

    def planned_clone(self, source, node):
        """Check mode for a clone: plan the configuration against the source's config."""
        config = self.read_config(source)
        config[self.name_key] = self.params[self.name_key]
        changes, grows = self.plan_config(config)
        if changes:
            self.plan('update_config', keys=sorted(changes))
        for slot in sorted(grows):
            self.plan('resize', disk=slot, size=ps.format_size(grows[slot]))
        after = dict((k, v) for k, v in config.items() if k in set(self.want) | set(self.volumes) and v is not None)
        after.update((k, v) for k, v in changes.items() if v is not None)
        return self.planned_only(node, after)

    def planned_only(self, node, after):
        """Check mode for a guest that does not exist: the plan, the config it would get, nothing written."""
        after = dict((k, v) for k, v in after.items() if k not in self.create_only)
        if self.params['state'] in ('started', 'restarted'):
            self.plan('start')
        elif self.params['state'] == 'template':
            self.plan('template')
        self.result.update(vmid=self.params['vmid'], node=node, status='absent', diff=dict(before={}, after=redact(after)),
                           config={}, pending={}, reboot_required=False, ip_addresses=[])
        return None

    # create parameters that are not config keys: left out of a planned diff
    create_only = frozenset(('pool',))

    # -- config --------------------------------------------------------------------------------

    def converge(self, guest):
        """Write the changed keys in one call (planned again when the digest moved), then grow volumes."""
        config, changes, grows = self.config, self.changes, self.grows
        attempts = 0
        while changes:
            attempts += 1
            if not self.plan('update_config', keys=sorted(changes)):
                break
            try:
                self.write_config(guest, changes, config.get('digest'))
                break
            except PVEError as err:
                if err.reason != 'digest' or attempts >= 3:
                    raise
                # someone else changed the config between our read and write: read it and plan again
                self.unplan()
                config = self.read_config(guest)
                changes, grows = self.plan_config(config)
                self.record_config_diff(config, changes, grows)
        grows = dict(grows, **self.grows_after_write(guest, changes))
        for slot in sorted(grows):
            size = ps.format_size(grows[slot])
            if self.plan('resize', disk=slot, size=size):
                self.task('PUT', self.path(guest, '/resize'), dict(disk=slot, size=size),
                          timeout=self.timeouts['resize'], what='resize of %s of %s' % (slot, self.describe(guest)),
                          holder=self.where(guest), settled=lambda slot=slot: self.resized(guest, slot, grows[slot]))
        self.changes, self.grows = changes, grows

    def resized(self, guest, slot, size):
        """After a lost resize: whether the volume in `slot` has `size` bytes now."""
        value = self.read_config(guest).get(slot)
        have = ps.parse(value, dict(default_key='file')).get('size') if value else None
        return have is not None and ps.parse_size(have) >= size

    def grows_after_write(self, guest, changes):
        """Volumes whose size is known only once the config is written (QEMU's imported disks)."""
        return {}

    def set_pool(self, guest):
        pool = self.params['pool']
        if not pool or self.created or guest.pool == pool:
            return
        if not self.plan('set_pool', pool=pool, previous=guest.pool):
            return
        what = 'move of %s to pool %s' % (self.describe(guest), pool)
        holder = self.where(guest)
        try:
            self.task('PUT', '/pools', {'poolid': pool, 'vms': guest.vmid, 'allow-move': 1},
                      timeout=self.timeouts['config'], what=what, holder=holder,
                      settled=lambda: self.in_pool(guest, pool))
        except PVEError as err:
            if err.status != 501:
                raise
            # PVE before 8.1 has only /pools/{poolid}, and no allow-move: leave the old pool first
            if guest.pool:
                self.task('PUT', '/pools/%s' % guest.pool, {'vms': guest.vmid, 'delete': 1},
                          timeout=self.timeouts['config'], what=what, holder=holder)
            self.task('PUT', '/pools/%s' % pool, {'vms': guest.vmid}, timeout=self.timeouts['config'], what=what,
                      holder=holder)

    def in_pool(self, guest, pool):
        members = (self.client.get('/pools/%s' % pool) or {}).get('members') or []
        return any(str(m.get('vmid')) == str(guest.vmid) for m in members)

    def wait_unlocked(self, guest, timeout, what, locks=None):
        """Wait until the guest's config has no lock (or none of `locks`); None when the guest is gone."""
        wait = Backoff(timeout)
        while True:
            try:
                config = self.client.get(self.path(guest, '/config'))
            except PVEError as err:
                if err.reason == 'not_found':
                    return None
                raise
            lock = config.get('lock')
            if not lock or (locks and lock not in locks):
                return config
            if not wait.sleep():
                raise PVEError('%s: %s is still locked (%s) after %ss' % (what, self.describe(guest), lock, timeout),
                               kind='timeout', path=self.path(guest, '/config'))

    # -- config --------------------------------------------------------------------------------

    def read_config(self, guest):
        return self.client.get(self.path(guest, '/config')) or {}

    def read_pending(self, guest, entries=None):
        """Pending changes as {key: {current, pending, delete}} (empty when nothing is pending), from `entries`
        (a /pending answer already read) or a fresh read."""
        pending = {}
        if entries is None:
            entries = self.client.get(self.path(guest, '/pending')) or []
        for entry in entries:
            if 'pending' in entry or entry.get('delete'):
                key = entry['key']
                item = dict(current=entry.get('value'))
                if 'pending' in entry:
                    item['pending'] = entry['pending']
                if entry.get('delete'):
                    item['delete'] = True
                if key in SECRET_KEYS:
                    item = dict((k, MASKED if k in ('current', 'pending') and v else v) for k, v in item.items())
                pending[key] = item
        return pending

    def write_config(self, guest, changes, digest):
        """Write the changed keys in one config call, guarded by the digest of the config read."""
        return self.task(self.config_method, self.path(guest, '/config'), config_call_params(changes, digest),
                         timeout=self.timeouts['config'], what='config update of %s' % self.describe(guest),
                         holder=self.where(guest), settled=lambda: self.config_settled(guest, digest))

    def config_settled(self, guest, digest):
        """After a lost config write: False while the config is as read (safe to send again); once it moved,
        a digest error, so the caller reads and plans again."""
        if digest and self.read_config(guest).get('digest') == digest:
            return False
        raise PVEError('config update of %s: the answer was lost and the config has changed since it was read'
                       % self.describe(guest), kind='http', reason='digest', path=self.path(guest, '/config'))

    # -- power ---------------------------------------------------------------------------------

    def power(self, guest, action, **params):
        timeout = self.timeouts.get(action, 300)
        after = POWER_STATUS.get(action)
        settled = (lambda: self.read_status(guest) == after) if after else None
        return self.task('POST', self.path(guest, '/status/%s' % action), params or None, timeout=timeout,
                         what='%s of %s' % (action, self.describe(guest)), holder=self.where(guest), settled=settled)

    def read_status(self, guest):
        return (self.client.get(self.path(guest, '/status/current')) or {}).get('status')

    def start(self, guest):
        if self.plan('start'):
            self.power(guest, 'start')
        guest.status = 'running'

    def stop(self, guest):
        """Graceful shutdown within timeouts.shutdown; a hard stop afterwards only with force."""
        if not self.plan('shutdown', force=self.params['force']):
            guest.status = 'stopped'
            return
        try:
            self.power(guest, 'shutdown', timeout=self.timeouts['shutdown'])
        except PVEError as err:
            if err.kind not in ('task', 'timeout'):
                raise
            if not self.params['force']:
                raise PVEError('%s did not shut down within %ss (%s); set force: true to stop it hard after the '
                               'timeout, or raise timeouts.shutdown'
                               % (self.describe(guest), self.timeouts['shutdown'], err.pve_message or err.message),
                               kind=err.kind, method=err.method, path=err.path, pve_message=err.pve_message,
                               upid=err.upid, task_log=err.task_log)
            self.result['actions'].append(dict(action='stop'))
            self.module.warn('%s ignored the shutdown request; stopped it hard (force)' % self.describe(guest))
            self.power(guest, 'stop')
        guest.status = 'stopped'

    def reboot(self, guest):
        if self.plan('reboot'):
            self.power(guest, 'reboot', timeout=self.timeouts['reboot'])
        guest.status = 'running'

    def destroy(self, guest):
        params = {'purge': 1 if self.params.get('purge') else None, 'destroy-unreferenced-disks': 1}
        if self.plan('destroy', purge=bool(self.params.get('purge'))):
            self.task('DELETE', '/nodes/%s/%s/%s' % (guest.node, self.kind, guest.vmid), params,
                      timeout=self.timeouts['destroy'], what='destroy of %s' % self.describe(guest), holder=self.where(guest),
                      settled=lambda: self.gone(guest))

    def gone(self, guest):
        try:
            self.read_config(guest)
        except PVEError as err:
            if err.reason == 'not_found':
                return True
            raise
        return False

    def absent(self, guest):
        if guest is None:
            return
        self.result.update(vmid=guest.vmid, node=guest.node)
        if guest.running:
            if not self.params['force']:
                raise InputError('force', '%s is running: stop it first (state: stopped) or set force: true to stop '
                                          'and destroy it' % self.describe(guest))
            if self.plan('stop'):
                self.power(guest, 'stop')
        self.destroy(guest)
        self.result['status'] = 'absent'
        self.result['diff'] = dict(before=dict(vmid=guest.vmid, name=guest.name, node=guest.node,
                                               status=guest.status), after={})

    def wait_for_addresses(self, guest, read_interfaces):
        """Poll `read_interfaces()` until it shows a global address, within timeouts.ip."""
        wait = Backoff(self.timeouts['ip'], first=0.5, cap=5.0, factor=1.5)
        last_error = None
        while True:
            try:
                found = addresses(read_interfaces())
                if found:
                    return found
            except PVEError as err:
                if err.kind not in ('http',):
                    raise
                last_error = err.pve_message or err.message
            if not wait.sleep():
                raise PVEError('%s reported no IP address within %ss (timeouts.ip)%s: %s'
                               % (self.describe(guest), self.timeouts['ip'],
                                  '; last answer: %s' % last_error if last_error else '', self.no_address_hint),
                               kind='timeout')


def guest_argument_spec(name_key='name', timeouts=None):
    """Options every guest module shares, on top of the API options."""
    spec = api_argument_spec()
    spec.update({name_key: dict(type='str')})
    spec.update(
        vmid=dict(type='int'),
        node=dict(type='str'),
        state=dict(type='str', default='present', choices=sorted(STATES)),
        force=dict(type='bool', default=False),
        purge=dict(type='bool', default=False),
        timeouts=dict(type='dict', default={}, options=dict(
            (k, dict(type='int', default=v)) for k, v in (timeouts or PVEGuestModule.default_timeouts).items())),
        clone=dict(type='str'),
        full=dict(type='bool'),
        storage=dict(type='str'),
        snapname=dict(type='str'),
        target=dict(type='str'),
        onboot=dict(type='bool'),
        tags=dict(type='list', elements='str'),
        description=dict(type='str'),
        pool=dict(type='str'),
        protection=dict(type='bool'),
        config=dict(type='dict'),
        reboot_if_needed=dict(type='bool', default=False),
        wait_for_ip=dict(type='bool', default=False),
        migrate=dict(type='bool', default=False),
        with_local_disks=dict(type='bool', default=False),
        target_storage=dict(type='str'),
    )
    return spec
