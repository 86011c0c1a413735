#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
module: template
short_description: Appliance templates, ISO images and cloud images on the Proxmox VE nodes that need them
version_added: 0.1.0
description:
  - Makes sure a container template, ISO image or importable disk image is on a storage of one node, a list of
    nodes or every online node, or is gone from them.
  - "The file comes from exactly one source: O(appliance), an entry of the node's appliance catalogue (PVE checks
    the catalogue's sha512); O(url), downloaded by PVE itself (no SSH, nothing copied by hand); or O(src), a file
    on the controller, uploaded as a streamed body that is never read into memory."
  - A storage that is not shared gets one copy per node, the downloads and uploads run in parallel; a shared
    storage gets one copy, done through the first node.
  - A download of the same file already running on a node (another run, another controller, the web UI) is
    found among the node's running tasks and waited for, not started a second time.
  - Everything that can be checked is checked before the first write, for every node (the nodes, the storage
    and the content types it allows, the file name PVE would store, the checksum, the URL, the catalogue entry).
author:
  - pve.cloud developers (@pve-cloud)
extends_documentation_fragment:
  - pve.cloud.api
  - pve.cloud.api.actiongroups
attributes:
  check_mode:
    description: Nothing is written; RV(actions) and RV(volumes) say what would be done on each node.
    support: full
  diff_mode:
    description: RV(diff) has, per node, the volume before and after (absent means none).
    support: full
options:
  appliance:
    description:
      - An appliance of the node's catalogue (C(pveam available)), by its exact template name
        (C(debian-13-standard_13.1-1_amd64.tar.zst)), by package name (C(debian-13-standard)) or by a glob on
        either (C(debian-*-standard)); a package name or glob picks the newest version.
      - A name that matches nothing fails before any write, listing the closest names.
      - Stored as O(content=vztmpl) under its template name.
    type: str
  url:
    description:
      - An C(http://) or C(https://) URL the node downloads the file from (PVE's C(download-url)).
    type: str
  src:
    description:
      - A file on the controller to upload. The body is streamed from disk (with its length, as PVE requires),
        so the controller's memory does not grow with the file.
      - Uploads are not started again when a previous upload is still running; run them one at a time.
    type: path
  filename:
    description:
      - File name on the storage. Defaults to the last part of O(url) or O(src) (the template name for
        O(appliance)).
      - PVE replaces every character but letters, digits, C(_), C(.) and C(-) with C(_); the module uses the
        name PVE will store (returned in RV(volumes[].volid)).
      - Needed with O(state=absent) when no source is given.
    type: str
  content:
    description:
      - What the file is. Defaults to what the file name's extension says (C(.iso)/C(.img) are C(iso),
        C(.tar.gz)/C(.tar.xz)/C(.tar.zst)/C(.tar.bz2) C(vztmpl), C(.qcow2)/C(.raw)/C(.vmdk)/C(.ova) C(import)).
      - C(import) is for cloud images used by O(pve.cloud.qemu#module:disks) C(import_from).
    type: str
    choices: [iso, vztmpl, import]
  checksum:
    description:
      - Expected checksum of the file, as hexadecimal digits with O(checksum_algorithm), or as
        C(ALGORITHM:HEX) (C(sha256:5d1c...)). PVE verifies it after the download or upload; a mismatch fails
        the task and nothing is stored.
      - A file that exists already is compared by size (PVE has no way to read a stored file's checksum without
        a write); a file of another size fails the module unless O(force=true).
    type: str
  checksum_algorithm:
    description: Algorithm of O(checksum).
    type: str
    choices: [md5, sha1, sha224, sha256, sha384, sha512]
  compression:
    description: Decompress the downloaded file (O(url) with O(content=iso) only, as PVE allows).
    type: str
    choices: [gz, lzo, zst, bz2]
  verify_certificates:
    description: Whether the node verifies the TLS certificate of O(url).
    type: bool
    default: true
  storage:
    description: The storage (file based, for example C(dir), C(nfs), C(cifs), C(cephfs)) that holds the file.
    type: str
    default: local
  node:
    description: The node. Exactly one of O(node) and O(nodes) is required.
    type: str
  nodes:
    description:
      - Several nodes, or V(all) for every online node of the cluster (offline nodes are skipped with a
        warning; a listed node that is offline is an error).
    type: list
    elements: str
  state:
    description: C(present) puts the file on every target, C(absent) deletes it from every target.
    type: str
    choices: [present, absent]
    default: present
  force:
    description: Replace a file of the same name whose size differs from the source's (deleted, then fetched again).
    type: bool
    default: false
  timeout:
    description:
      - Seconds to wait for each download or upload task. When it passes PVE keeps going; the next run finds the
        running download and waits for it.
    type: int
    default: 3600
notes:
  - Progress (the percentage from the task log) is returned in RV(volumes[].progress), which C(-v) shows, and
    logged on the target while the module waits.
  - Downloads need C(Datastore.AllocateTemplate) on the storage and C(Sys.AccessNetwork) on the node (or
    C(Sys.Audit) + C(Sys.Modify) on C(/)); uploads C(Datastore.AllocateTemplate); removing C(Datastore.Allocate).
seealso:
  - module: pve.cloud.template_info
  - module: pve.cloud.qemu
'''

EXAMPLES = r'''
- name: The newest Debian 13 container template on every node
  pve.cloud.template:
    appliance: debian-13-standard
    storage: local
    nodes: all

- name: A cloud image for pve.cloud.qemu's import_from, on the shared storage (downloaded once)
  pve.cloud.template:
    url: https://cloud.debian.org/images/cloud/trixie/latest/debian-13-genericcloud-amd64.qcow2
    checksum: sha512:{{ debian_cloud_sha512 }}
    content: import
    storage: cephfs
    nodes: [pve1, pve2, pve3]
  register: image

- name: A VM from that image
  pve.cloud.qemu:
    name: web1
    node: pve1
    disks:
      scsi0: {storage: local-lvm, import_from: "{{ image.volumes[0].volid }}"}

- name: An ISO from the controller, uploaded to one node
  pve.cloud.template:
    src: files/netboot.iso
    checksum: "{{ lookup('ansible.builtin.file', 'files/netboot.iso.sha256') }}"
    checksum_algorithm: sha256
    node: pve1

- name: Gone from every node
  pve.cloud.template:
    filename: netboot.iso
    content: iso
    nodes: all
    state: absent
'''

RETURN = r'''
volumes:
  description: One entry per target node (a shared storage's nodes share one copy).
  returned: always
  type: list
  elements: dict
  contains:
    node:
      description: The node.
      type: str
      sample: pve1
    storage:
      description: The storage.
      type: str
      sample: local
    volid:
      description: Volume ID of the file, for O(pve.cloud.qemu#module:disks) C(import_from), C(ostemplate) or an ISO drive.
      type: str
      sample: local:vztmpl/debian-13-standard_13.1-1_amd64.tar.zst
    size:
      description: Size in bytes (none when the file is absent or only planned).
      type: int
      sample: 132874563
    status:
      description:
        - C(present) (was there already, or another task put it there while the module waited), C(downloaded),
          C(uploaded), C(removed), C(absent). In check mode, what would happen.
      type: str
      sample: downloaded
    shared:
      description: Whether the storage is shared (one copy for all its nodes).
      type: bool
    waited_for:
      description: The UPID of a download that was already running and that the module waited for.
      type: str
      returned: when a running download was found
    progress:
      description: The progress lines of the task log (percent done), in order.
      type: list
      elements: str
      returned: when the module downloaded or uploaded
actions:
  description: What was done (or, in check mode, would be done), in order.
  returned: always
  type: list
  elements: dict
  sample: [{action: download, node: pve1, volid: local:iso/netboot.iso}]
tasks:
  description: UPIDs of the tasks the module started or waited for.
  returned: always
  type: list
  elements: str
diff:
  description: Per node, the volume before and after.
  returned: when diff mode is on
  type: dict
api_calls:
  description: Every API call the module made, as C(METHOD path -> status (seconds)); never parameters or secrets.
  returned: when run with C(-vvv)
  type: list
  elements: str
'''

import os
import re
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote, urlsplit

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pve.cloud.plugins.module_utils.api import PVEError, api_argument_spec
from ansible_collections.pve.cloud.plugins.module_utils.base import InputError, PVEModule
from ansible_collections.pve.cloud.plugins.module_utils import storage as content_utils


class Template(PVEModule):
    """One file on one storage across nodes: plan every copy first, then run the copies in parallel."""

    def execute(self):
        p = self.params
        self.source = self.check_source()
        nodes = self.target_nodes()
        entries = dict((node, self.check_target_storage(node)) for node in nodes)
        if self.source['kind'] == 'appliance':
            self.resolve_appliance(nodes[0])
        self.volid = '%s:%s/%s' % (p['storage'], self.source['content'], self.source['filename'])
        copies = self.copies(nodes, entries)
        for copy in copies:
            self.plan_copy(copy)
        if not self.check_mode and any(c['work'] for c in copies):
            self.run_copies([c for c in copies if c['work']])
        self.result['volumes'] = [dict(self.view(copy), node=node) for copy in copies for node in copy['nodes']]
        if self.module._diff:
            self.result['diff'] = self.diff

    # -- input, before any call ------------------------------------------------------------------------

    def check_source(self):
        p = self.params
        kind = next((k for k in ('appliance', 'url', 'src') if p.get(k)), None)
        src = dict(kind=kind, algorithm=None, checksum=None, size=None)
        try:
            src['algorithm'], src['checksum'] = content_utils.parse_checksum(p.get('checksum'), p.get('checksum_algorithm'))
        except ValueError as err:
            raise InputError('checksum', str(err))
        if kind == 'appliance':
            if p.get('content') not in (None, 'vztmpl'):
                raise InputError('content', 'an appliance is a container template: drop content or set it to vztmpl')
            for opt in ('checksum', 'compression', 'filename'):
                if p.get(opt):
                    raise InputError(opt, 'not used with appliance (the catalogue names the file and its sha512)')
            src.update(content='vztmpl', filename=None)
            return src
        name = p.get('filename')
        if kind == 'url':
            if not re.match(r'^https?://[^/\s?#]+', p['url']) or re.search(r'\s', p['url']):
                raise InputError('url', "'%s' is not an http:// or https:// URL" % p['url'])
            name = name or unquote(urlsplit(p['url']).path.rsplit('/', 1)[-1])
            if not name:
                raise InputError('filename', 'the URL does not end in a file name: set filename')
        elif kind == 'src':
            if not os.path.isfile(p['src']) or not os.access(p['src'], os.R_OK):
                raise InputError('src', "'%s' is not a readable file on the controller" % p['src'])
            src['size'] = os.path.getsize(p['src'])
            name = name or os.path.basename(p['src'])
        elif not name:
            raise InputError('filename', 'state=absent without appliance, url or src needs filename (and content)')
        filename = content_utils.normalize_filename(name)
        content = p.get('content') or content_utils.guess_content(filename)
        if content is None:
            raise InputError('content', "the extension of '%s' does not say what it is: set content (iso, vztmpl or "
                                        "import) and a file name PVE accepts for it" % filename)
        problem = content_utils.filename_problem(content, filename)
        if problem:
            raise InputError('filename', problem + ' (set filename)')
        if p.get('compression') and (kind != 'url' or content != 'iso'):
            raise InputError('compression', 'PVE decompresses only downloaded ISO images (url with content iso)')
        src.update(content=content, filename=filename)
        return src

    def target_nodes(self):
        p = self.params
        if bool(p.get('node')) == bool(p.get('nodes')):
            raise InputError('nodes', 'set exactly one of node and nodes')
        cluster = dict((n.get('node'), n.get('status')) for n in self.client.get('/nodes') or [])
        wanted = [p['node']] if p.get('node') else p['nodes']
        param = 'node' if p.get('node') else 'nodes'
        if wanted == ['all']:
            offline = sorted(n for n, s in cluster.items() if s != 'online')
            if offline:
                self.module.warn('nodes=all: skipping offline nodes %s' % ', '.join(offline))
            online = sorted(n for n, s in cluster.items() if s == 'online')
            if not online:
                raise InputError('nodes', 'no node of the cluster is online')
            return online
        for node in wanted:
            if node not in cluster:
                raise InputError(param, "node '%s' is not in the cluster (nodes: %s)" % (node, ', '.join(sorted(cluster))))
            if cluster[node] != 'online':
                raise InputError(param, "node '%s' is %s: leave it out or bring it back" % (node, cluster[node]))
        return list(dict.fromkeys(wanted))

    def check_target_storage(self, node):
        storage = self.params['storage']
        entry = self.check_storage(node, storage, self.source['content'])
        if entry.get('type') not in content_utils.FILE_STORAGE_TYPES:
            usable = sorted(s for s, e in self.node_storages(node).items()
                            if e.get('type') in content_utils.FILE_STORAGE_TYPES
                            and self.source['content'] in str(e.get('content', '')).split(','))
            raise InputError('storage', "storage '%s' is of type %s, which holds no files (usable on %s: %s)"
                             % (storage, entry.get('type'), node, ', '.join(usable) or 'none'))
        return entry

    def resolve_appliance(self, node):
        catalogue = self.client.get('/nodes/%s/aplinfo' % node) or []
        entry, closest = content_utils.pick_appliance(catalogue, self.params['appliance'])
        if entry is None:
            raise InputError('appliance', "no appliance '%s' in the catalogue of node %s (closest: %s); the "
                                          "catalogue is refreshed by 'pveam update' on the node"
                             % (self.params['appliance'], node, ', '.join(closest) or 'none'))
        self.source.update(filename=entry['template'], entry=entry)

    # -- planning --------------------------------------------------------------------------------------

    def copies(self, nodes, entries):
        """One copy per node, or one for all nodes of a shared storage (done through the first of them)."""
        shared = [n for n in nodes if str(entries[n].get('shared', 0)) == '1']
        out = [dict(owner=n, nodes=[n], shared=False) for n in nodes if n not in shared]
        if shared:
            out.insert(0, dict(owner=shared[0], nodes=shared, shared=True))
        return out

    def plan_copy(self, copy):
        node = copy['owner']
        storage = self.params['storage']
        listing = self.client.get('/nodes/%s/storage/%s/content' % (node, storage), content=self.source['content']) or []
        vol = next((v for v in listing if v.get('volid') == self.volid), None)
        copy.update(existing=vol, size=vol.get('size') if vol else None, work=None, running=None, replace=False)
        before = dict(volid=self.volid, size=vol.get('size')) if vol else None
        if self.params['state'] == 'absent':
            copy['status'] = 'absent'
            if vol is not None and self.plan('remove', node=node, volid=self.volid):
                copy['work'] = 'remove'
            if vol is not None:
                copy['status'] = 'removed'
            self.record_diff(node, before, None)
            return
        if vol is not None:
            copy['status'] = 'present'
            expected = self.expected_size(node)
            if expected is None or expected == vol.get('size'):
                self.record_diff(node, before, before)
                return
            if not self.params['force']:
                raise InputError('force', "%s on node %s is %s bytes but the source is %s bytes: set force: true to "
                                          "replace it, or give the file another name"
                                 % (self.volid, node, vol.get('size'), expected))
            copy['replace'] = True
        else:
            copy['running'] = self.running_download(node)
        verb = 'upload' if self.source['kind'] == 'src' else 'download'
        copy['status'] = 'uploaded' if verb == 'upload' else 'downloaded'
        if copy['running']:
            copy.update(status='present', waited_for=copy['running'])
            if not self.check_mode:
                copy['work'] = 'wait'
        elif self.plan(('replace_' if copy['replace'] else '') + verb, node=node, volid=self.volid):
            copy['work'] = verb
        self.record_diff(node, before, dict(volid=self.volid, size=self.source['size'] or self.expected_size(node)))

    def expected_size(self, node):
        """The source's size: the local file, or what a HEAD of the URL says (None when unknown)."""
        if self.source['kind'] == 'src':
            return self.source['size']
        if 'remote_size' not in self.source:
            url = self.params['url'] if self.source['kind'] == 'url' else self.source['entry'].get('location')
            size = None
            try:
                meta = self.client.get('/nodes/%s/query-url-metadata' % node, url=url,
                                       **({'verify-certificates': 0} if not self.params['verify_certificates'] else {}))
                size = (meta or {}).get('size')
            except PVEError as err:  # without network access or Sys.AccessNetwork the size stays unknown
                self.module.warn('could not read the size of %s from node %s (%s): an existing file is kept as is'
                                 % (url, node, err.pve_message or err.message))
            # PVE stores the decompressed image: the download's size says nothing about it
            self.source['remote_size'] = None if self.params.get('compression') else size
        return self.source['remote_size']

    def running_download(self, node):
        """The UPID of a download of this file running on the node, if any."""
        if self.source['kind'] == 'src':
            return None
        for task in self.client.get('/nodes/%s/tasks' % node, source='active', typefilter='download') or []:
            if task.get('id') == self.source['filename'] and not task.get('endtime'):
                return task.get('upid')
        return None

    # -- writes ----------------------------------------------------------------------------------------

    def run_copies(self, copies):
        with ThreadPoolExecutor(max_workers=min(len(copies), 10)) as pool:
            futures = [(copy, pool.submit(self.apply, copy)) for copy in copies]
        errors = []
        for copy, future in futures:
            err = future.exception()
            if err is not None:
                if not isinstance(err, PVEError):
                    raise err
                copy['status'] = 'failed'
                errors.append((copy, err))
        if errors:
            copy, err = errors[0]
            others = '' if len(errors) == 1 else ' (%d more nodes failed: %s)' % (
                len(errors) - 1, ', '.join(c['owner'] for c, _err in errors[1:]))
            self.result['volumes'] = [dict(self.view(c), node=n) for c in copies for n in c['nodes']]
            self.fail('node %s: %s%s' % (copy['owner'], err.message, others), err)

    def apply(self, copy):
        node, storage = copy['owner'], self.params['storage']
        what = '%s of %s on node %s' % (copy['work'], self.volid, node)
        path = '/nodes/%s/storage/%s/content/%s' % (node, storage, self.volid)
        if copy['work'] == 'remove' or copy['replace']:
            self.task('DELETE', path, timeout=self.params['timeout'], what='remove %s on node %s' % (self.volid, node))
            if copy['work'] == 'remove':
                copy['size'] = None
                return
        if copy['work'] == 'wait':
            self.result['tasks'].append(copy['running'])
            try:
                self.follow(copy, copy['running'], 'download of %s by another task on node %s' % (self.volid, node))
            except PVEError as err:
                if err.kind != 'task':
                    raise
                self.module.warn('the running download on node %s failed (%s): downloading again' % (node, err.pve_message))
                copy['work'] = 'download'
                copy['status'] = 'downloaded'
                copy.pop('waited_for', None)
                return self.apply(copy)
            copy['size'] = self.stored_size(node)
            return
        try:
            upid = self.start(node, storage)
        except PVEError as err:
            # the answer was lost: PVE may have started the download; find it rather than start a second one
            upid = self.running_download(node) if err.maybe_applied else None
            if upid is None:
                if err.maybe_applied and self.stored_size(node) is not None:
                    copy['size'] = self.stored_size(node)
                    return
                raise
        self.result['tasks'].append(upid)
        self.follow(copy, upid, what)
        copy['size'] = self.stored_size(node)

    def start(self, node, storage):
        src, p = self.source, self.params
        if src['kind'] == 'src':
            return content_utils.upload(self.client, node, storage, src['content'], src['filename'], p['src'],
                                        src['algorithm'], src['checksum'])
        if src['kind'] == 'appliance':
            return self.client.post('/nodes/%s/aplinfo' % node, storage=storage, template=src['filename'])
        params = dict(url=p['url'], filename=src['filename'], content=src['content'], compression=p.get('compression'))
        if src['algorithm']:
            params.update({'checksum': src['checksum'], 'checksum-algorithm': src['algorithm']})
        if not p['verify_certificates']:
            params['verify-certificates'] = 0
        return self.client.post('/nodes/%s/storage/%s/download-url' % (node, storage), **params)

    def follow(self, copy, upid, what):
        progress = copy.setdefault('progress', [])

        def seen(percent, line):
            progress.append(line.strip())
            self.module.log('pve.cloud.template: %s: %d%%' % (what, percent))

        content_utils.wait_with_progress(self.client, upid, self.params['timeout'], what, seen)

    def stored_size(self, node):
        listing = self.client.get('/nodes/%s/storage/%s/content' % (node, self.params['storage']),
                                  content=self.source['content']) or []
        return next((v.get('size') for v in listing if v.get('volid') == self.volid), None)

    def view(self, copy):
        out = dict(storage=self.params['storage'], volid=self.volid, size=copy.get('size'), status=copy['status'],
                   shared=copy['shared'])
        for key in ('waited_for', 'progress'):
            if copy.get(key):
                out[key] = copy[key]
        return out


def main():
    spec = api_argument_spec()
    spec.update(
        appliance=dict(type='str'),
        url=dict(type='str'),
        src=dict(type='path'),
        filename=dict(type='str'),
        content=dict(type='str', choices=['iso', 'vztmpl', 'import']),
        checksum=dict(type='str'),
        checksum_algorithm=dict(type='str', choices=['md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512']),
        compression=dict(type='str', choices=['gz', 'lzo', 'zst', 'bz2']),
        verify_certificates=dict(type='bool', default=True),
        storage=dict(type='str', default='local'),
        node=dict(type='str'),
        nodes=dict(type='list', elements='str'),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        force=dict(type='bool', default=False),
        timeout=dict(type='int', default=3600),
    )
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           mutually_exclusive=[('appliance', 'url', 'src'), ('node', 'nodes')],
                           required_one_of=[('node', 'nodes')],
                           required_if=[('state', 'present', ('appliance', 'url', 'src'), True)])
    Template(module).run()


if __name__ == '__main__':
    main()
