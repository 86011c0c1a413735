# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What every guest module (qemu, lxc, template) shares: finding a guest cluster-wide, allocating
VMIDs safely, creating or cloning without ever making a second guest, waiting for locks, converging
a config in one call, power transitions, check-mode plans and the shape of results and failures.

A guest module subclasses PVEGuestModule, sets the class attributes that differ between QEMU and
LXC, and says what `present`, `absent`, `started`... mean for its object.
"""

from __future__ import annotations

import ipaddress
import random
import time

from ansible_collections.pve.cloud.plugins.module_utils.api import Backoff, PVEError, api_argument_spec
from ansible_collections.pve.cloud.plugins.module_utils.base import MAYBE_APPLIED_ATTEMPTS, InputError, PVEModule
# Values PVE returns in place of secrets.
MASKED = '**********'
SECRET_KEYS = frozenset(('cipassword', 'password'))
# The status a power action leaves the guest in: after a lost answer, what to look for before sending it again.
POWER_STATUS = dict(start='running', shutdown='stopped', stop='stopped')


class Guest(object):
    """A guest as /cluster/resources shows it."""

    def __init__(self, vmid, node, kind, name=None, status=None, template=False, lock=None, pool=None, tags=None):
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


def changed_keys(current, desired, same):
    """The keys of `desired` whose value differs from `current` by `same(key, current_value, desired)`.

    A desired value of None means the key must be absent. Returns {key: desired value or None}.
    """
    changes = {}
    for key, want in desired.items():
        have = current.get(key)
        if want is None:
            if have is not None:
                changes[key] = None
        elif have is None or not same(key, have, want):
            changes[key] = want
    return changes


def config_call_params(changes, digest=None):
    """Parameters of one config write: set the changed keys, delete those set to None."""
    params = dict((k, v) for k, v in changes.items() if v is not None)
    deletes = sorted(k for k, v in changes.items() if v is None)
    if deletes:
        params['delete'] = ','.join(deletes)
    if digest:
        params['digest'] = digest
    return params


def redact(config):
    """A config without its digest and with secrets masked, as returned to the user."""
    out = {}
    for key, value in (config or {}).items():
        if key == 'digest':
            continue
        out[key] = MASKED if key in SECRET_KEYS and value else value
    return out


def usable_address(text):
    """The ip_address in text ('10.0.0.5', '10.0.0.5/24', 'fe80::1%eth0') if it can reach the guest, else None."""
    try:
        address = ipaddress.ip_address(str(text).partition('/')[0].partition('%')[0].strip())
    except ValueError:
        return None
    if address.is_loopback or address.is_link_local or address.is_unspecified or address.is_multicast:
        return None
    return address


def interface_addresses(interfaces):
    """Every address of the QEMU agent's network-get-interfaces or LXC's /interfaces answer, in order.

    Reads both the agent's form (ip-address-type ipv4/ipv6) and the container form (ip-address-type
    inet/inet6, plus plain inet/inet6 'a.b.c.d/nn' fields).
    """
    found = []
    for iface in interfaces or []:
        if not isinstance(iface, dict):
            continue
        for entry in iface.get('ip-addresses') or []:
            if isinstance(entry, dict) and entry.get('ip-address'):
                found.append(entry['ip-address'])
        for key in ('inet', 'inet6'):
            if iface.get(key):
                found.append(iface[key])
    return found


def pick_address(candidates):
    """The first usable address of the candidates, IPv4 before IPv6, as a string; None when there is none."""
    usable = [a for a in (usable_address(c) for c in candidates) if a is not None]
    for version in (4, 6):
        for address in usable:
            if address.version == version:
                return str(address)
    return None


def addresses(interfaces):
    """The usable (global) addresses of an agent or /interfaces answer, without duplicates, in order."""
    found = []
    for candidate in interface_addresses(interfaces):
        address = usable_address(candidate)
        if address is not None and str(address) not in found:
            found.append(str(address))
    return found


def guest_argument_spec():
    """Options every guest module shares, on top of the API options."""
    spec = api_argument_spec()
    spec.update(
        vmid=dict(type='int'),
        name=dict(type='str'),
        node=dict(type='str'),
        force=dict(type='bool', default=False),
        purge=dict(type='bool', default=False),
    )
    return spec


class PVEGuestModule(PVEModule):
    """The base of the guest modules: finding, creating, configuring and powering one guest."""

    kind = 'qemu'           # path segment and /cluster/resources type
    label = 'VM'            # how PVE names the guest in its messages
    config_method = 'POST'  # QEMU config writes are tasks; LXC's are a synchronous PUT
    create_task = 'qmcreate'
    default_timeouts = dict(create=900, clone=900, config=300, resize=300, start=120, shutdown=180, stop=60,
                            reboot=300, destroy=300, template=300, lock=60, ip=300)
    max_allocation_attempts = 12

    def __init__(self, module):
        super(PVEGuestModule, self).__init__(module)
        self._resources = None

    def path(self, guest, suffix=''):
        return '/nodes/%s/%s/%s%s' % (guest.node, self.kind, guest.vmid, suffix)

    def where(self, guest):
        return '%s on node %s' % (self.describe(guest), guest.node)

    def describe(self, guest):
        return '%s %s%s' % (self.label, guest.vmid, " ('%s')" % guest.name if guest.name else '')

    # -- finding guests ------------------------------------------------------------------------

    def resources(self, refresh=False):
        """Every guest of the cluster: one GET /cluster/resources?type=vm (cached for the run)."""
        if self._resources is None or refresh:
            self._resources = self.client.get('/cluster/resources', type='vm') or []
        return self._resources

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

    def read_pending(self, guest):
        """Pending changes as {key: {current, pending, delete}} (empty when nothing is pending)."""
        pending = {}
        for entry in self.client.get(self.path(guest, '/pending')) or []:
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
        settled = (lambda: self.status(guest) == after) if after else None
        return self.task('POST', self.path(guest, '/status/%s' % action), params or None, timeout=timeout,
                         what='%s of %s' % (action, self.describe(guest)), holder=self.where(guest), settled=settled)

    def status(self, guest):
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
                raise PVEError('%s reported no IP address within %ss (timeouts.ip)%s: is the guest agent installed '
                               'and running?' % (self.describe(guest), self.timeouts['ip'],
                                                 '; last answer: %s' % last_error if last_error else ''),
                               kind='timeout')

