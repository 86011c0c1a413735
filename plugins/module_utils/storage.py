# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Storage content for pve.cloud modules: file-name rules, checksums, the appliance catalogue, a streamed
multipart upload and waiting for a download task while reading its progress.

The file-name rules are PVE's own (pve-storage PVE::Storage ISO_EXT_RE_0, VZTMPL_EXT_RE_1,
UPLOAD_IMPORT_EXT_RE_1 and normalize_content_filename), so bad names fail before any write.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import re
import time
import uuid

from ansible_collections.pve.cloud.plugins.module_utils import api as api_utils
from ansible_collections.pve.cloud.plugins.module_utils.api import Backoff, PVEError, parse_upid

ALGORITHMS = dict(md5=32, sha1=40, sha224=56, sha256=64, sha384=96, sha512=128)
CONTENT_TYPES = ('iso', 'vztmpl', 'import')
COMPRESSIONS = ('gz', 'lzo', 'zst', 'bz2')
# storage types whose content is files (PVE: a storage with a `path`)
FILE_STORAGE_TYPES = ('dir', 'nfs', 'cifs', 'glusterfs', 'cephfs', 'btrfs')
EXTENSIONS = dict(
    iso=(re.compile(r'[^/]+\.(?:iso|img)$', re.I), '.iso or .img'),
    vztmpl=(re.compile(r'[^/]+\.tar\.(?:gz|xz|zst|bz2)$', re.I), '.tar.gz, .tar.xz, .tar.zst or .tar.bz2'),
    import_=(re.compile(r'^[a-zA-Z0-9\-.+=_]+\.(?:ova|qcow2|raw|vmdk)$'), '.qcow2, .raw, .vmdk or .ova'),
)
PERCENT = re.compile(r'\s(\d{1,3})%\s')


def normalize_filename(name):
    """The name PVE will store a file under (normalize_content_filename)."""
    name = re.sub(r'^.*[/\\]', '', name.rstrip('\n'))
    return re.sub(r'[^a-zA-Z0-9_.-]', '_', name)


def guess_content(filename):
    """The content type a file name's extension says, or None."""
    for content in CONTENT_TYPES:
        if EXTENSIONS['import_' if content == 'import' else content][0].search(filename):
            return content
    return None


def filename_problem(content, filename):
    """Why PVE would refuse `filename` for `content`, or None."""
    pattern, wanted = EXTENSIONS['import_' if content == 'import' else content]
    if pattern.search(filename):
        return None
    return "'%s' is not a valid %s file name for PVE: it must end in %s" % (filename, content, wanted)


def parse_checksum(checksum, algorithm):
    """(algorithm, hex) from `checksum` (optionally `algo:hex`) and `checksum_algorithm`; raises ValueError."""
    if checksum is None:
        if algorithm:
            raise ValueError('checksum_algorithm is set but checksum is not: give the expected checksum too')
        return None, None
    prefix, sep, rest = checksum.partition(':')
    if sep and prefix.lower() in ALGORITHMS:
        if algorithm and algorithm != prefix.lower():
            raise ValueError("checksum says %s but checksum_algorithm is %s: make them agree" % (prefix, algorithm))
        algorithm, checksum = prefix.lower(), rest
    if not algorithm:
        raise ValueError('checksum needs checksum_algorithm (one of %s), or write it as ALGORITHM:HEX'
                         % ', '.join(ALGORITHMS))
    checksum = checksum.strip().lower()
    if not re.match(r'^[0-9a-f]+$', checksum) or len(checksum) != ALGORITHMS[algorithm]:
        raise ValueError('a %s checksum is %d hexadecimal characters, got %d: %r'
                         % (algorithm, ALGORITHMS[algorithm], len(checksum), checksum[:16] + ('...' if len(checksum) > 16 else '')))
    return algorithm, checksum


def version_key(version):
    """Order appliance versions (13.2-1 > 13.1-1 > 12.12-1 > 12.7-1; 20250617 > 20240912)."""
    return [(0, int(part), '') if part.isdigit() else (1, 0, part) for part in re.findall(r'\d+|[a-zA-Z]+', version or '')]


def pick_appliance(catalogue, wanted):
    """The catalogue entry for `wanted`: an exact template name, else the newest version of a package
    (`debian-13-standard`) or of the templates matching a glob (`debian-*-standard*`).

    Returns (entry, None) or (None, the closest names).
    """
    for entry in catalogue:
        if entry.get('template') == wanted:
            return entry, None
    if any(ch in wanted for ch in '*?['):
        matches = [e for e in catalogue if fnmatch.fnmatchcase(e.get('template', ''), wanted)
                   or fnmatch.fnmatchcase(e.get('package', ''), wanted)]
    else:
        matches = [e for e in catalogue if e.get('package') == wanted
                   or e.get('template', '').startswith(wanted + '_')]
    if matches:
        return max(matches, key=lambda e: (version_key(e.get('version')), e.get('template'))), None
    names = sorted(set([e.get('package', '') for e in catalogue] + [e.get('template', '') for e in catalogue]))
    return None, difflib.get_close_matches(wanted, names, n=5, cutoff=0.4) or names[:5]


# -- upload ----------------------------------------------------------------------------------------------

class MultipartFile(object):
    """A multipart/form-data body read from disk piece by piece: requests streams it with a Content-Length
    (pveproxy refuses chunked uploads), so a multi-GiB ISO never sits in the controller's memory.
    """

    blocksize = 1024 * 1024

    def __init__(self, path, fields, filename):
        self.boundary = uuid.uuid4().hex
        head = b''.join(b'--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
                        % (self.boundary.encode(), k.encode(), str(v).encode()) for k, v in fields)
        # PVE takes the file only from the form field `filename` (pve-http-server AnyEvent.pm)
        head += (b'--%s\r\nContent-Disposition: form-data; name="filename"; filename="%s"\r\n'
                 b'Content-Type: application/octet-stream\r\n\r\n' % (self.boundary.encode(), filename.encode()))
        self.head = head
        self.tail = b'\r\n--%s--\r\n' % self.boundary.encode()
        self.path = path
        self.size = os.path.getsize(path)
        self.sent = 0
        self._fh = None
        self._stage = 0

    @property
    def content_type(self):
        return 'multipart/form-data; boundary=%s' % self.boundary

    def __len__(self):
        return len(self.head) + self.size + len(self.tail)

    def __iter__(self):
        while True:
            block = self.read(self.blocksize)
            if not block:
                return
            yield block

    def read(self, size=-1):
        size = self.blocksize if size is None or size < 0 else size
        if self._stage == 0:
            self._stage = 1
            return self.head
        if self._stage == 1:
            if self._fh is None:
                self._fh = open(self.path, 'rb')
            block = self._fh.read(size)
            if block:
                self.sent += len(block)
                return block
            self._fh.close()
            self._stage = 2
        if self._stage == 2:
            self._stage = 3
            return self.tail
        return b''

    def close(self):
        if self._fh is not None:
            self._fh.close()


def upload(client, node, storage, content, filename, path, algorithm=None, checksum=None, timeout=None):
    """POST .../upload with a streamed body; returns the UPID of the imgcopy task.

    The client's own request() sends form fields only, so this call goes through its session (and auth)
    directly and is recorded among its calls and writes the same way.
    """
    fields = [('content', content)]
    if algorithm:
        fields += [('checksum', checksum), ('checksum-algorithm', algorithm)]
    body = MultipartFile(path, fields, filename)
    api_path = '/nodes/%s/storage/%s/upload' % (node, storage)
    client._connect()
    session = client.session
    auth = getattr(session, 'auth', None)
    cookies = auth.get_cookies() if hasattr(auth, 'get_cookies') else None
    started = time.monotonic()
    requests = api_utils.requests  # the client exists, so requests was importable
    try:
        response = requests.Session.request(session, 'POST', client.base_url + api_path, data=body,
                                            headers={'Content-Type': body.content_type}, cookies=cookies,
                                            verify=client.verify, timeout=timeout or client.timeout)
    except requests.exceptions.RequestException as err:
        client._record('POST', api_path, 'ERR', started)
        client.writes += 1
        raise client._transport_error(err, 'POST', api_path)
    finally:
        body.close()
    client._record('POST', api_path, response.status_code, started)
    if response.status_code != 200:
        raise client._http_error(response, 'POST', api_path)
    client.writes += 1
    return response.json().get('data')


# -- tasks -------------------------------------------------------------------------------------------------

def wait_with_progress(client, upid, timeout, what, on_progress=None):
    """Wait for a download/upload task, reading new log lines as it runs; returns the whole log.

    on_progress(percent, line) is called for every new progress line (wget's dot:giga lines carry the percent).
    Raises PVEError (kind task / timeout) like the client's wait_task, with the log tail.
    """
    info = parse_upid(upid)
    node = info['node']
    status_path = '/nodes/%s/tasks/%s/status' % (node, upid)
    log = []
    wait = Backoff(timeout, first=0.2, cap=2.0)
    while True:
        status = client.get(status_path)
        lines = client.get('/nodes/%s/tasks/%s/log' % (node, upid), start=len(log), limit=500) or []
        for entry in lines:
            line = entry.get('t', '')
            log.append(line)
            match = PERCENT.search(' %s ' % line)
            if match and on_progress is not None:
                on_progress(int(match.group(1)), line)
        if status.get('status') == 'stopped':
            exitstatus = status.get('exitstatus') or ''
            if exitstatus == 'OK' or exitstatus.startswith('WARNINGS'):
                return log
            raise PVEError('%s failed: %s (task %s; log: %s)' % (what, exitstatus, upid, ' | '.join(log[-5:])),
                           kind='task', method='GET', path=status_path, pve_message=exitstatus, upid=upid,
                           task_log=log[-20:])
        if len(lines) >= 500:
            continue
        if not wait.sleep(clip=True):
            raise PVEError('%s still running after %ss (task %s on node %s); PVE goes on with it: run again later '
                           '(the module then waits for that task) or raise timeout' % (what, timeout, upid, node),
                           kind='timeout', upid=upid, path=status_path)
