# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The base of every pve.cloud module, whatever it manages (guests, templates, storage content...).

PVEModule owns the AnsibleModule, the API client and the result; it records planned actions and the
diff while planning (check mode then simply stops before the write), checks nodes, pools and
storages before any write, sends writes that wait out a lock held by another task, and fails with
one shape: `msg`, `param` for bad input, `failure` for a Proxmox error, and `changed` true only when
a write was accepted (or its answer was lost).

A module subclasses it and implements execute(); it knows nothing of guests (see guest.py).
"""

from __future__ import annotations

import re

from ansible_collections.pve.cloud.plugins.module_utils.api import Backoff, PVEClient, PVEError, TaskResult

# the node and object id of an API path (/nodes/pve1/qemu/101/status/start), for its running tasks
OBJECT_PATH = re.compile(r'^/nodes/(?P<node>[^/]+)/[a-z]+/(?P<vmid>\d+)(?:/|$)')
# a write whose answer was lost is looked at this many times before the module gives up on it
MAYBE_APPLIED_ATTEMPTS = 3


class InputError(Exception):
    """Bad input found before any write: names the parameter and says how to fix it."""

    def __init__(self, param, message):
        super(InputError, self).__init__(message)
        self.param = param
        self.message = message


def content_types(entry):
    return str(entry.get('content') or '').split(',')


class PVEModule(object):
    """Client, result, plan and failure shape of a module; subclasses implement execute()."""

    # seconds per kind of operation; a module's `timeouts` option overrides them
    default_timeouts = dict(lock=60)

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.client = PVEClient.from_module(module)
        self.result = dict(changed=False, actions=[], tasks=[])
        self.diff = dict(before={}, after={})
        self.timeouts = dict(self.default_timeouts)
        self.timeouts.update(dict((k, v) for k, v in (self.params.get('timeouts') or {}).items() if v))
        self._storages = {}
        self._node_storages = {}
        self._cluster = None

    # -- result, plan and failures -------------------------------------------------------------

    @property
    def check_mode(self):
        return self.module.check_mode

    def plan(self, action, **details):
        """Record an action; returns True when it should really be carried out (not in check mode)."""
        entry = dict(action=action)
        entry.update(details)
        self.result['actions'].append(entry)
        self.result['changed'] = True
        return not self.module.check_mode

    def unplan(self):
        """Forget the last planned action (it is planned again after a fresh read)."""
        self.result['actions'].pop()
        self.result['changed'] = bool(self.result['actions'])

    def record_diff(self, key, before, after):
        """Record one managed value before and after the task (None: absent), while planning."""
        for side, value in (('before', before), ('after', after)):
            if value is None:
                self.diff[side].pop(key, None)
            else:
                self.diff[side][key] = value

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

    def run(self):
        try:
            self.execute()
        except InputError as err:
            self.fail('%s: %s' % (err.param, err.message), param=err.param)
        except PVEError as err:
            self.fail(err.message, err)
        self.client.close()
        # a write whose answer was lost and that a re-read then showed done changed the guest, even when
        # the plan made afterwards has nothing left to do
        self.result['changed'] = self.result['changed'] or self.client.writes > 0
        self.module.exit_json(**self._with_call_log(self.result))

    def execute(self):
        raise NotImplementedError

    # -- checks before any write ---------------------------------------------------------------

    def cluster_resources(self, refresh=False):
        """Nodes, storages, guests and pools of the cluster: one GET /cluster/resources (cached for the run).

        The node and storage checks read it too, so a create checks its node and storages with no call
        of its own.
        """
        if self._cluster is None or refresh:
            self._cluster = self.client.get('/cluster/resources') or []
        return self._cluster

    def check_node(self, node, param='node'):
        """Fail before any write when `node` is not a cluster node or is offline."""
        nodes = dict((e.get('node'), e.get('status')) for e in self.cluster_resources() if e.get('type') == 'node')
        if node not in nodes:
            # without Sys.Audit on a node, /cluster/resources leaves it out: /nodes has every node
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
            # /pools lists only the pools the caller has Pool.Audit on
            raise InputError(param, "pool '%s' does not exist or is not visible (pools: %s): create it, fix the name, "
                             "or grant Pool.Audit on /pool/%s" % (pool, ', '.join(pools) or 'none', pool))

    def node_storages(self, node, authoritative=False):
        """The storages usable on `node` as {storage: entry with type, content, shared...} (cached for the run).

        Read from /cluster/resources; `authoritative` asks GET /nodes/{node}/storage, which also lists
        disabled storages and those /cluster/resources does not describe.
        """
        if authoritative and node not in self._node_storages:
            self._node_storages[node] = dict((s.get('storage'), s)
                                             for s in self.client.get('/nodes/%s/storage' % node) or [])
        if node in self._node_storages:
            return self._node_storages[node]
        if node not in self._storages:
            # /cluster/resources says type=storage and names the storage type plugintype; give the entries the
            # shape of /nodes/{node}/storage so that callers read `type` the same way from both
            self._storages[node] = dict((e.get('storage'), dict(e, type=e.get('plugintype'))) for e in self.cluster_resources()
                                        if e.get('type') == 'storage' and e.get('node') == node)
        return self._storages[node]

    def check_storage(self, node, storage, content, param='storage'):
        """Fail before any write unless `storage` exists on `node`, is enabled and holds `content`.

        Returns the storage's entry (type, shared, content, ...).
        """
        entry = self.node_storages(node).get(storage)
        if entry is None or 'content' not in entry or content not in content_types(entry):
            # not described, or not as wanted: ask the node itself before saying no
            entry = self.node_storages(node, authoritative=True).get(storage)
        storages = self.node_storages(node)
        if entry is None:
            # /nodes/{node}/storage lists only the storages the caller has Datastore.Audit or .AllocateSpace on
            raise InputError(param, "storage '%s' does not exist on node '%s' (storages there: %s): fix the name or "
                                    "add the node to the storage's nodes; if it exists, grant Datastore.AllocateSpace "
                                    "on /storage/%s (PVE lists only the storages a caller may use)"
                             % (storage, node, ', '.join(sorted(s for s in storages if s)) or 'none', storage))
        if str(entry.get('enabled', 1)) == '0':
            raise InputError(param, "storage '%s' is disabled: enable it (pvesm set %s --disable 0) or pick another"
                             % (storage, storage))
        if content not in content_types(entry):
            usable = sorted(s for s, e in storages.items() if content in content_types(e))
            raise InputError(param, "storage '%s' does not allow %s content on node '%s' (storages that do: %s)"
                             % (storage, content, node, ', '.join(usable) or 'none'))
        return entry

    # -- permission walls ----------------------------------------------------------------------

    def audit_wall(self, what, can_do=None, partial_ok=False):
        """Why `what` may be hidden from the caller: PVE silently leaves guests without VM.Audit out of every
        list. None when the caller has VM.Audit on /vms, holds `can_do` (a (path, privilege) that makes the
        task safe), or with partial_ok has VM.Audit on some guest or pool; else the reason, naming the
        privilege, the path and a token's privsep flag. GET /access/permissions is asked once.
        """
        if not hasattr(self, '_permissions'):
            try:
                self._permissions = self.client.get('/access/permissions') or {}
            except PVEError:
                self._permissions = None  # older PVE or no access to it: say nothing rather than guess
        perms = self._permissions
        # effective privileges per path; a path PVE does not list inherits from '/' (propagated ACLs)
        vms = perms.get('/vms') if perms is not None and '/vms' in perms else (perms or {}).get('/')
        if perms is None or 'VM.Audit' in (vms or {}):
            return None
        if can_do and can_do[1] in (perms.get(can_do[0]) or {}):
            return None
        # a guest of the pool the task works in is visible with VM.Audit there
        if can_do and can_do[0].startswith('/pool/') and 'VM.Audit' in (perms.get(can_do[0]) or {}):
            return None
        if partial_ok and any('VM.Audit' in (privs or {}) for path, privs in perms.items()
                              if path.startswith(('/vms/', '/pool/'))):
            return None
        return ("%s may exist but is not visible: %s lacks VM.Audit on /vms%s, and PVE leaves the guests a caller "
                "may not audit out of every list. Grant it (pveum acl modify /vms --%s '%s' --roles PVEAuditor), "
                "or on the guest's pool" % (what, self.client.identity, self._privsep_note(),
                                            'tokens' if self.client.token_name else 'users',
                                            '%s!%s' % (self.client.user, self.client.token_name)
                                            if self.client.token_name else self.client.user))

    def _privsep_note(self):
        if not self.client.token_name:
            return ''
        try:
            token = self.client.get('/access/users/%s/token/%s' % (self.client.user, self.client.token_name)) or {}
        except PVEError:
            return ' (a token: if it is privilege-separated, it has only its own ACLs)'
        if str(token.get('privsep')) == '0':
            return " (the token shares its user's privileges: privsep 0)"
        return ' (the token is privilege-separated, privsep 1: it has only its own ACLs, not its user\'s)'

    # -- writes --------------------------------------------------------------------------------

    def task(self, method, path, params=None, timeout=300, what=None, holder=None, settled=None):
        """Send a write (task or synchronous) and wait for it; returns the TaskResult.

        With `holder` (what the lock is on, for example "VM 101 ('web1') on node pve1"), a write
        refused because of a lock changed nothing, so it is sent again once the lock is gone, within
        timeouts.lock; then the failure names the lock.

        With `settled`, a write whose answer was lost (or came from a proxy that gave up) is not
        resent blindly: once the object's running tasks are done, `settled()` re-reads it and says
        True (carried out), False (not carried out: sent again) or raises to hand the decision up.
        """
        what = what or '%s %s' % (method, path)
        wait = Backoff(self.timeouts['lock'], first=0.2, cap=3.0)
        lost = 0
        while True:
            try:
                result = self.client.run_task(method, path, params, timeout=timeout, what=what)
                break
            except PVEError as err:
                if err.upid and err.upid not in self.result['tasks']:
                    self.result['tasks'].append(err.upid)
                if err.maybe_applied and settled is not None and lost + 1 < MAYBE_APPLIED_ATTEMPTS:
                    lost += 1
                    result = self.settle(err, path, settled, timeout, what)
                    if result is not None:
                        break
                    continue
                if err.reason != 'lock' or holder is None:
                    raise
                if not wait.sleep():
                    raise PVEError('%s: %s is locked (%s) by another task; waited %ss (timeouts.lock) for it to '
                                   'finish. Look at the running tasks there, or raise timeouts.lock'
                                   % (what, holder, err.lock, self.timeouts['lock']),
                                   kind=err.kind, status=err.status, method=err.method, path=err.path,
                                   pve_message=err.pve_message, errors=err.errors, upid=err.upid,
                                   task_log=err.task_log, reason='lock', lock=err.lock)
        if result.upid:
            self.result['tasks'].append(result.upid)
        self.warn_task(result, what)
        return result

    def settle(self, err, path, settled, timeout, what):
        """After a maybe-applied write: a TaskResult when it was carried out, None when it was not."""
        upid = self.wait_running_tasks(path, timeout)
        if not settled():
            return None
        self.module.warn('%s: %s; looked again and found it carried out, so it was not sent again'
                         % (what, err.pve_message or err.message))
        return TaskResult(upid, 'OK')

    def wait_running_tasks(self, path, timeout):
        """Wait for the running tasks of the object `path` names (a lost write may have started one).

        Returns the UPID of the last one; their failures are left to the re-read to judge.
        """
        match = OBJECT_PATH.match(path)
        if match is None:
            return None
        upid = None
        tasks = self.client.get('/nodes/%s/tasks' % match.group('node'), source='active', vmid=match.group('vmid'))
        for entry in tasks or []:
            upid = entry.get('upid')
            if upid:
                try:
                    self.wait_task(upid, timeout, 'task %s' % upid)
                except PVEError as err:
                    if err.kind not in ('task', 'timeout'):
                        raise
        return upid

    def wait_task(self, upid, timeout, what):
        """Wait for a task this module started with a plain client call; returns the TaskResult."""
        self.result['tasks'].append(upid)
        result = self.client.wait_task(upid, timeout=timeout, what=what)
        self.warn_task(result, what)
        return result

    def warn_task(self, result, what):
        for warning in result.warnings:
            self.module.warn('%s: %s' % (what, warning))
