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
import re
import time

from ansible_collections.pve.cloud.plugins.module_utils.api import PVEClient, PVEError, api_argument_spec

LOCK_RE = re.compile(r"\b(?:VM|CT) is locked \((?P<lock>[^)]+)\)")
FLOCK_RE = re.compile(r"can't lock file '(?P<file>[^']*)' - got timeout")
EXISTS_RE = re.compile(r'already exists|config file already exists')
DIGEST_RE = re.compile(r'checksum mismatch|detected modified configuration')
# Values PVE returns in place of secrets.
MASKED = '**********'
SECRET_KEYS = frozenset(('cipassword', 'password'))


class InputError(Exception):
    """Bad input found before any write: names the parameter and says how to fix it."""

    def __init__(self, param, message):
        super(InputError, self).__init__(message)
        self.param = param
        self.message = message


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


def lock_name(err):
    """The lock that made a call fail (`backup`, `clone`, ... or `config file`), or None."""
    text = ' '.join(str(x) for x in (err.pve_message, err.message) if x)
    match = LOCK_RE.search(text)
    if match:
        return match.group('lock')
    if FLOCK_RE.search(text):
        return 'config file'
    return None


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


class PVEGuestModule(object):
    """The base of the guest modules: owns the AnsibleModule, the client and the result."""

    kind = 'qemu'           # path segment and /cluster/resources type
    label = 'VM'            # how PVE names the guest in its messages
    config_method = 'POST'  # QEMU config writes are tasks; LXC's are a synchronous PUT
    create_task = 'qmcreate'
    default_timeouts = dict(create=900, clone=900, config=300, resize=300, start=120, shutdown=180, stop=60,
                            reboot=300, destroy=300, template=300, lock=60, ip=300)
    max_allocation_attempts = 12

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.client = PVEClient.from_module(module)
        self.result = dict(changed=False, actions=[], tasks=[])
        self.timeouts = dict(self.default_timeouts)
        self.timeouts.update(dict((k, v) for k, v in (self.params.get('timeouts') or {}).items() if v))
        self._resources = None
        self._storages = {}

    # -- result and failures -------------------------------------------------------------------

    def fail(self, msg, err=None, **extra):
        result = dict(self.result)
        # a planned action that PVE refused changed nothing: only writes it accepted (or whose answer
        # was lost) count
        result['changed'] = self.client.writes > 0
        result.update(extra)
        if err is not None:
            result['failure'] = err.to_dict()
        self.client.close()
        self.module.fail_json(msg=msg, **self._with_call_log(result))

    def _with_call_log(self, result):
        # -vvv shows the whole result: the calls let users see what the module did
        if getattr(self.module, '_verbosity', 0) >= 3:
            result['api_calls'] = self.client.call_log()
        return result

    def plan(self, action, **details):
        """Record an action; returns True when it should really be carried out (not in check mode)."""
        entry = dict(action=action)
        entry.update(details)
        self.result['actions'].append(entry)
        self.result['changed'] = True
        return not self.module.check_mode

    def path(self, guest, suffix=''):
        return '/nodes/%s/%s/%s%s' % (guest.node, self.kind, guest.vmid, suffix)

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

    def check_node(self, node, param='node'):
        """Fail before any write when `node` is not a cluster node or is offline."""
        nodes = dict((n.get('node'), n.get('status')) for n in self.client.get('/nodes') or [])
        if node not in nodes:
            raise InputError(param, "node '%s' is not in the cluster (nodes: %s): set %s to one of them"
                             % (node, ', '.join(sorted(n for n in nodes if n)), param))
        if nodes[node] not in (None, 'online'):
            raise InputError(param, "node '%s' is %s: pick an online node" % (node, nodes[node]))

    def check_pool(self, pool, param='pool'):
        """Fail before any write when the pool does not exist."""
        pools = sorted(p.get('poolid') for p in self.client.get('/pools') or [] if p.get('poolid'))
        if pool not in pools:
            raise InputError(param, "pool '%s' does not exist (pools: %s): create it first or fix the name"
                             % (pool, ', '.join(pools) or 'none'))

    def node_storages(self, node):
        """The storages usable on `node` as {storage: entry of GET /nodes/{node}/storage} (cached for the run)."""
        if node not in self._storages:
            self._storages[node] = dict((s.get('storage'), s) for s in self.client.get('/nodes/%s/storage' % node) or [])
        return self._storages[node]

    def check_storage(self, node, storage, content, param='storage'):
        """Fail before any write unless `storage` exists on `node`, is enabled and holds `content`.

        Returns the storage's entry (type, shared, content, ...).
        """
        storages = self.node_storages(node)
        entry = storages.get(storage)
        if entry is None:
            raise InputError(param, "storage '%s' does not exist on node '%s' (storages there: %s): fix the name or "
                                    "add the node to the storage's nodes" % (storage, node, ', '.join(sorted(
                                        s for s in storages if s)) or 'none'))
        if str(entry.get('enabled', 1)) == '0':
            raise InputError(param, "storage '%s' is disabled: enable it (pvesm set %s --disable 0) or pick another"
                             % (storage, storage))
        contents = str(entry.get('content') or '').split(',')
        if content not in contents:
            usable = sorted(s for s, e in storages.items() if content in str(e.get('content') or '').split(','))
            raise InputError(param, "storage '%s' does not allow %s content on node '%s' (storages that do: %s)"
                             % (storage, content, node, ', '.join(usable) or 'none'))
        return entry

    # -- tasks, locks --------------------------------------------------------------------------

    def task(self, method, path, params=None, timeout=300, what=None, guest=None):
        """Send a write (task or synchronous) and wait; waits for a guest lock held by another task.

        A write refused because the guest is locked changed nothing, so it is sent again once the
        lock is gone, within timeouts.lock; then the failure names the lock.
        """
        deadline = time.monotonic() + self.timeouts['lock']
        pause = 0.2
        while True:
            try:
                result = self.client.run_task(method, path, params, timeout=timeout, what=what)
            except PVEError as err:
                if err.upid and err.upid not in self.result['tasks']:
                    self.result['tasks'].append(err.upid)
                lock = lock_name(err)
                if lock is None or guest is None:
                    raise
                if time.monotonic() + pause > deadline:
                    raise PVEError('%s: %s is locked (%s) by another task; waited %ss (timeouts.lock) for it to '
                                   'finish. Look at the running tasks of node %s, or raise timeouts.lock'
                                   % (what or '%s %s' % (method, path), self.describe(guest), lock,
                                      self.timeouts['lock'], guest.node),
                                   kind=err.kind, status=err.status, method=err.method, path=err.path,
                                   pve_message=err.pve_message, errors=err.errors, upid=err.upid,
                                   task_log=err.task_log)
                time.sleep(pause)
                pause = min(3.0, pause * 1.6)
                continue
            if result.upid:
                self.result['tasks'].append(result.upid)
            for warning in result.warnings:
                self.module.warn('%s: %s' % (what or path, warning))
            return result

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
        attempt = 0
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
                    if attempt >= 2:
                        raise
                    continue
                if vmid is None and EXISTS_RE.search(err.pve_message or err.message) \
                        and attempt < self.max_allocation_attempts:
                    time.sleep(random.uniform(0.05, 0.2) * attempt)
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
        """Wait until the guest's config has no lock (or none of `locks`)."""
        deadline = time.monotonic() + timeout
        pause = 0.1
        while True:
            try:
                config = self.client.get(self.path(guest, '/config'))
            except PVEError as err:
                if err.status in (500, 400) and 'does not exist' in (err.pve_message or ''):
                    return None
                raise
            lock = config.get('lock')
            if not lock or (locks and lock not in locks):
                return config
            if time.monotonic() >= deadline:
                raise PVEError('%s: %s is still locked (%s) after %ss' % (what, self.describe(guest), lock, timeout),
                               kind='timeout', path=self.path(guest, '/config'))
            time.sleep(pause)
            pause = min(2.0, pause * 1.6)

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
                         guest=guest)

    # -- power ---------------------------------------------------------------------------------

    def power(self, guest, action, **params):
        timeout = self.timeouts.get(action, 300)
        return self.task('POST', self.path(guest, '/status/%s' % action), params or None, timeout=timeout,
                         what='%s of %s' % (action, self.describe(guest)), guest=guest)

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
                      timeout=self.timeouts['destroy'], what='destroy of %s' % self.describe(guest), guest=guest)

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
        deadline = time.monotonic() + self.timeouts['ip']
        pause = 0.5
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
            if time.monotonic() + pause > deadline:
                raise PVEError('%s reported no IP address within %ss (timeouts.ip)%s: is the guest agent installed '
                               'and running?' % (self.describe(guest), self.timeouts['ip'],
                                                 '; last answer: %s' % last_error if last_error else ''),
                               kind='timeout')
            time.sleep(pause)
            pause = min(5.0, pause * 1.5)

    # -- running -------------------------------------------------------------------------------

    def run(self):
        try:
            self.execute()
        except InputError as err:
            self.fail('%s: %s' % (err.param, err.message), param=err.param)
        except PVEError as err:
            self.fail(err.message, err)
        self.client.close()
        self.module.exit_json(**self._with_call_log(self.result))

    def execute(self):
        raise NotImplementedError
