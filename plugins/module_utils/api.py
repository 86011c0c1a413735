# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one Proxmox VE API client of pve.cloud.

Every module and the inventory plugin talk to Proxmox through PVEClient: authentication (ticket or
API token), TLS verification, bounded retries for reads, task waiting and error translation live
here and nowhere else.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import json
import os
import random
import re
import select
import socket
import ssl
import sys
import threading
import time
import zlib
from urllib.parse import quote, unquote, urlencode, urlsplit

from ansible.module_utils.basic import env_fallback, missing_required_lib


def __getattr__(name):
    # `requests` is only needed for streamed uploads (module_utils/storage.py reads api.requests): importing it
    # costs every module and the inventory 70 ms of CPU, so it is imported on first use only.
    if name == 'requests':
        return _requests()
    raise AttributeError(name)


def _requests():
    try:
        import requests
    except ImportError:
        raise PVEError(missing_required_lib('requests'), kind='config')
    return requests


def api_argument_spec():
    """The connection options shared by every module (documented in the pve.cloud.api fragment)."""
    return dict(
        # not required=True: PROXMOX_HOST alone is enough, and the client says what to set when neither is
        api_host=dict(type='str', fallback=(env_fallback, ['PROXMOX_HOST'])),
        api_port=dict(type='int', default=8006, fallback=(env_fallback, ['PROXMOX_PORT'])),
        api_user=dict(type='str', fallback=(env_fallback, ['PROXMOX_USER'])),
        api_password=dict(type='str', no_log=True, fallback=(env_fallback, ['PROXMOX_PASSWORD'])),
        api_otp=dict(type='str', no_log=True, fallback=(env_fallback, ['PROXMOX_OTP'])),
        api_token_id=dict(type='str', no_log=False, fallback=(env_fallback, ['PROXMOX_TOKEN_ID'])),
        api_token_secret=dict(type='str', no_log=True, fallback=(env_fallback, ['PROXMOX_TOKEN_SECRET'])),
        validate_certs=dict(type='bool', default=True, fallback=(env_fallback, ['PROXMOX_VALIDATE_CERTS'])),
        ca_path=dict(type='path', fallback=(env_fallback, ['PROXMOX_CA_PATH'])),
        api_timeout=dict(type='int', default=30, fallback=(env_fallback, ['PROXMOX_API_TIMEOUT'])),
    )


API_OPTION_NAMES = tuple(api_argument_spec())
DEFAULT_PORT = 8006

# Statuses a proxy or a busy pveproxy returns while the cluster itself is fine (595/596: pveproxy
# could not reach the node it proxies to).
TRANSIENT_STATUSES = frozenset((502, 503, 504, 595, 596))
# Answers of a proxy (or pveproxy) that gave up waiting for a call it had passed on.
GATEWAY_STATUSES = frozenset((502, 503, 504))
# What a refusal means, read once from PVE's message (first match wins). `lock`: a guest lock
# (`VM is locked (backup)`) or PVE's lock-file wait ran out; either way the call changed nothing
# and can be sent again once the holder is done.
REASONS = (
    ('lock', re.compile(r"\b(?:VM|CT) is locked \((?P<lock>[^)]+)\)|can't lock file '(?P<file>[^']*)' - got timeout")),
    ('digest', re.compile(r'checksum mismatch|detected modified configuration')),
    ('exists', re.compile(r'already exists')),
    ('not_found', re.compile(r"does not exist|no such (?:VM|CT|task|storage|pool|node|volume)|not found",
                             re.IGNORECASE)),
)
PERMISSION_MESSAGE = re.compile(r'Permission check failed \((?P<path>[^,)]+), (?P<privs>[^)\n]+)')
UPID_PATTERN = re.compile(r'^UPID:(?P<node>[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):[0-9A-Fa-f]{8}:[0-9A-Fa-f]{8,9}:'
                          r'[0-9A-Fa-f]{8}:(?P<type>[^:\s/]+):(?P<id>[^:\s/]*):[^:\s/]+:$')
REDACTED_KEYS = frozenset(('password', 'cipassword', 'api_password', 'api_token_secret', 'otp'))
TASK_LOG_TAIL = 20


class PVEError(Exception):
    """Any failure talking to Proxmox: HTTP errors, auth, TLS, connection, failed or slow tasks.

    kind is one of: config, auth, permission, tls, connection, http, task, timeout (where it failed).
    reason (what PVE meant, classified once here) is one of: lock, digest, exists, not_found, transient,
    permission, or None; `lock` then names the lock (`backup`, `clone`... or `config file`).
    """

    def __init__(self, message, kind='http', status=None, method=None, path=None, errors=None,
                 pve_message=None, upid=None, task_log=None, maybe_applied=False, reason=None, lock=None):
        super(PVEError, self).__init__(message)
        self.message = message
        self.kind = kind
        self.status = status
        self.method = method
        self.path = path
        self.errors = errors or {}
        self.pve_message = pve_message
        self.upid = upid
        self.task_log = task_log or []
        # a write whose answer never arrived: PVE may or may not have carried it out
        self.maybe_applied = maybe_applied
        self.reason, self.lock = reason, lock
        if reason is None:
            self.reason, self.lock = classify(kind, status, pve_message)

    def to_dict(self):
        """The structured `failure` a module returns next to its msg."""
        return dict(kind=self.kind, reason=self.reason, status=self.status, method=self.method, path=self.path,
                    errors=self.errors, pve_message=self.pve_message, upid=self.upid, task_log=self.task_log)

    def __str__(self):
        return self.message


def classify(kind, status, pve_message):
    """(reason, lock) of a failure: see PVEError. The one place that reads meaning from PVE's text."""
    if kind == 'permission' or status == 403:
        return 'permission', None
    if kind == 'connection' or status in TRANSIENT_STATUSES:
        return 'transient', None
    for reason, pattern in REASONS:
        match = pattern.search(pve_message or '')
        if match:
            if reason == 'lock':
                return 'lock', match.group('lock') or 'config file'
            return reason, None
    return None, None


class Backoff(object):
    """The one back-off of pve.cloud: every wait loop (tasks, locks, retries, addresses) uses it.

        wait = Backoff(timeout)
        while not done():
            if not wait.sleep():
                raise ...  # the deadline would pass
    """

    def __init__(self, timeout, first=0.1, cap=2.0, factor=1.6, jitter=False):
        self.deadline = time.monotonic() + timeout
        self.pause = first
        self.cap = cap
        self.factor = factor
        self.jitter = jitter
        self.attempts = 0

    @property
    def expired(self):
        return time.monotonic() >= self.deadline

    def sleep(self, clip=False):
        """Sleep for the next pause; False (without sleeping) when it would end past the deadline.

        With clip, the last pause is shortened to end at the deadline instead (one last look).
        """
        pause = self.pause * (random.uniform(0.5, 1.0) if self.jitter else 1.0)
        left = self.deadline - time.monotonic()
        if pause > left:
            if not clip or left <= 0:
                return False
            pause = left
        time.sleep(pause)
        self.attempts += 1
        self.pause = min(self.cap, self.pause * self.factor)
        return True


class TaskResult(object):
    """A finished task: its UPID, exit status, warnings and the tail of its log."""

    def __init__(self, upid, exitstatus, warnings=None, log=None):
        self.upid = upid
        self.exitstatus = exitstatus
        self.warnings = warnings or []
        self.log = log or []


def parse_upid(upid):
    """Return node, task type and id of a UPID, or None when the value is not a UPID."""
    if not isinstance(upid, str):
        return None
    match = UPID_PATTERN.match(upid)
    if not match:
        return None
    return dict(node=match.group('node'), type=match.group('type'), id=match.group('id'))


def redact(params):
    return dict((k, '********' if k in REDACTED_KEYS else v) for k, v in (params or {}).items())


def config_error(param, message):
    """A PVEError for a bad connection option: `param` names it (modules return it next to msg)."""
    err = PVEError('%s: %s' % (param, message) if not message.startswith(param) else message, kind='config')
    err.param = param
    return err


def split_token_id(token_id, api_user):
    """Accept both `tokenid` (with api_user) and `user@realm!tokenid`; return (user, tokenid)."""
    if '!' in token_id:
        user, _sep, name = token_id.partition('!')
        if not user or not name:
            raise config_error('api_token_id', "'%s' has an empty %s: write it as user@realm!tokenname, for example "
                                               "root@pam!ansible" % (token_id, 'token name' if user else 'user'))
        if api_user and api_user != user:
            raise config_error('api_token_id', "api_token_id '%s' belongs to user '%s' but api_user is '%s': drop "
                                               "api_user or make them agree" % (token_id, user, api_user))
        return check_user(user, 'api_token_id'), name
    if not api_user:
        raise config_error('api_token_id', "api_token_id '%s' has no user: set api_user (for example root@pam) or pass "
                                           "the full id 'user@realm!%s'" % (token_id, token_id))
    return check_user(api_user), token_id


def check_user(user, param='api_user'):
    """A PVE userid is name@realm: refuse what PVE would answer with a bare 401."""
    name, sep, realm = user.rpartition('@')
    if not (name and sep and realm) or any(c.isspace() or c in ':!/' for c in user):
        raise config_error(param, "user '%s' is not user@realm: write it like root@pam or ansible@pve" % user)
    return user


def split_api_host(api_host, api_port):
    """(host, port) from api_host as a name, an address or a URL (https://pve1:8006/), and api_port.

    The port of a URL wins over the default api_port; a different explicit api_port is an error.
    """
    text = str(api_host).strip()
    if not text:
        raise config_error('api_host', 'api_host is required: set it to the name or address of a cluster node '
                                       '(or PROXMOX_HOST)')
    if '://' not in text:
        try:
            ipaddress.ip_address(text.strip('[]'))
            return text.strip('[]'), check_port(api_port)
        except ValueError:
            text = 'https://' + text
    parts = urlsplit(text)
    if parts.scheme.lower() != 'https':
        raise config_error('api_host', "'%s': Proxmox VE serves its API over https only: use https://%s"
                                       % (api_host, text.split('://', 1)[1]))
    if parts.path.rstrip('/') not in ('', '/api2/json') or parts.query or parts.username:
        raise config_error('api_host', "'%s' is not a host name, an address or https://HOST[:PORT]" % api_host)
    try:
        url_port = parts.port
    except ValueError:
        raise config_error('api_host', "'%s' has a port outside 1..65535" % api_host)
    host = parts.hostname
    if not host or any(c.isspace() for c in host):
        raise config_error('api_host', "'%s' has no valid host name" % api_host)
    if url_port is None:
        return host, check_port(api_port)
    if api_port not in (None, DEFAULT_PORT, url_port):
        raise config_error('api_port', "api_port %s disagrees with the port %s in api_host '%s': drop one of them"
                                       % (api_port, url_port, api_host))
    return host, check_port(url_port, 'api_host')


def check_port(port, param='api_port'):
    if port is None:
        return DEFAULT_PORT
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise config_error(param, '%s is not a TCP port: use 1..65535 (the API listens on 8006)' % (port,))
    return port


def check_timeout(timeout):
    if timeout is None:
        return 30
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise config_error('api_timeout', '%s: give the seconds to wait for one answer, more than 0 (default 30)'
                                          % (timeout,))
    return timeout


class PVEClient(object):
    """Keep-alive HTTPS connections to one Proxmox VE API endpoint, one per thread that calls it.

    `log` (optional) is called with one line per HTTP call: method, path, status and duration.

    The calls go over http.client, not requests: requests spends 0.9 to 1.5 ms of CPU per call on its hooks,
    cookie jars and adapters, http.client 0.15 to 0.3 ms, which is most of the inventory's time with per-guest
    facts. Each thread keeps its own connection (http.client connections are not thread-safe), so the inventory's
    workers never wait for a free one. `session` (a requests session with the same auth) remains for streamed
    uploads only.
    """

    read_attempts = 5
    read_retry_budget = 60.0

    def __init__(self, api_host, api_port=8006, api_user=None, api_password=None, api_otp=None, api_token_id=None,
                 api_token_secret=None, validate_certs=True, ca_path=None, api_timeout=30, log=None, pool_size=10,
                 **_ignored):
        host, port = split_api_host(api_host or '', api_port)
        self._address = (host, port)
        if ':' in host:
            host = '[%s]' % host
        self.base_url = 'https://%s:%s/api2/json' % (host, port)
        self.verify = (ca_path or True) if validate_certs else False
        self.timeout = check_timeout(api_timeout)
        self._log = log
        self.calls = []
        # writes PVE accepted, or whose answer was lost (they may have been applied)
        self.writes = 0
        self._session = None
        self._auth = None
        self._ssl_context = None
        # one connection per calling thread; all of them, to close them
        self._local = threading.local()
        self._connections = []
        # connections a requests session for uploads keeps open (the API connections are per thread)
        self.pool_size = max(1, pool_size or 10)
        self._connect_lock = threading.Lock()
        self._connections_lock = threading.Lock()

        has_token = bool(api_token_id or api_token_secret)
        if has_token and api_password:
            raise config_error('api_password', 'both api_password and api_token_id/api_token_secret are set: use one '
                                               'way to log in (API tokens are recommended for automation)')
        if has_token:
            if not (api_token_id and api_token_secret):
                missing = 'api_token_secret' if api_token_id else 'api_token_id'
                raise config_error(missing, '%s is missing: API token auth needs api_token_id and api_token_secret'
                                   % missing)
            self.user, self.token_name = split_token_id(api_token_id, api_user)
            self.identity = "API token '%s!%s'" % (self.user, self.token_name)
            self._credentials = dict(token_value=api_token_secret)
        elif api_password:
            if not api_user:
                raise config_error('api_user', 'api_user is required with api_password: set it to user@realm, for '
                                               'example root@pam')
            self.user, self.token_name = check_user(api_user), None
            self.identity = "user '%s' (password)" % api_user
            self._credentials = dict(password=api_password, otp=api_otp)
        else:
            raise config_error('api_token_id', 'no credentials: set api_token_id and api_token_secret '
                                               '(PROXMOX_TOKEN_ID, PROXMOX_TOKEN_SECRET) or api_user and api_password '
                                               '(PROXMOX_USER, PROXMOX_PASSWORD)')

    @classmethod
    def from_module(cls, module):
        """Connect with the module's api_* options, failing the module with a clear message."""
        log = None
        if getattr(module, '_verbosity', 0) >= 3:
            log = module.log
        try:
            return cls(log=log, **dict((k, module.params.get(k)) for k in API_OPTION_NAMES))
        except PVEError as err:
            extra = dict(param=err.param) if getattr(err, 'param', None) else {}
            module.fail_json(msg=err.message, failure=err.to_dict(), **extra)

    # -- connection -------------------------------------------------------------------------------

    def _connect(self):
        """Log in (once, whichever thread gets here first): a ticket with a password, nothing with a token."""
        if self._auth is not None:
            return
        with self._connect_lock:
            if self._auth is None:
                if self.token_name:
                    self._auth = _TokenAuth(self.user, self.token_name, self._credentials['token_value'])
                else:
                    auth = _TicketAuth(self)
                    auth.renew(self._credentials['password'], self._credentials['otp'])
                    self._auth = auth

    @property
    def ssl_context(self):
        """TLS as requests would verify it: ca_path first, then REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE, then certifi."""
        if self._ssl_context is None:
            if self.verify is False:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            else:
                cafile = self.verify if isinstance(self.verify, str) else _default_ca_bundle()
                if cafile and os.path.isdir(cafile):
                    context = ssl.create_default_context(capath=cafile)
                else:
                    try:
                        context = ssl.create_default_context(cafile=cafile)
                    except (OSError, ssl.SSLError) as err:
                        raise config_error('ca_path', "ca_path '%s' cannot be read as PEM certificates: %s"
                                           % (cafile, err))
            self._ssl_context = context
        return self._ssl_context

    def _connection(self, timeout):
        conn = getattr(self._local, 'conn', None)
        if conn is None:
            proxy = _https_proxy(self._address[0])
            if proxy is None:
                conn = http.client.HTTPSConnection(self._address[0], self._address[1], timeout=timeout,
                                                   context=self.ssl_context)
            else:
                # HTTPS_PROXY / NO_PROXY as requests reads them: a CONNECT tunnel, TLS verified end to end
                conn = http.client.HTTPSConnection(proxy.hostname, proxy.port or 3128, timeout=timeout,
                                                   context=self.ssl_context)
                headers = {}
                if proxy.username:
                    credentials = '%s:%s' % (unquote(proxy.username), unquote(proxy.password or ''))
                    headers['Proxy-Authorization'] = 'Basic ' + base64.b64encode(credentials.encode()).decode()
                conn.set_tunnel(self._address[0], self._address[1], headers=headers)
            self._local.conn = conn
            # (not _connect_lock: the login's own call opens a connection while _connect holds that one)
            with self._connections_lock:
                self._connections.append(conn)
        elif conn.sock is not None and select.select([conn.sock], [], [], 0)[0]:
            # readable while idle: pveproxy closed the keep-alive connection (it does after a while); sending a
            # write into it would lose the answer, so open a new one first, as urllib3 does
            conn.close()
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn

    def _exchange(self, method, path, params=None, headers=None, timeout=None):
        """One HTTP exchange on this thread's connection; returns an _Answer or raises a transport exception."""
        query = urlencode(params, doseq=True) if params else ''
        url = '/api2/json' + quote(path, safe="/:@!$&'()*+,;=~%")
        headers = dict(headers or {}, **STATIC_HEADERS)
        body = None
        if method in ('GET', 'DELETE'):
            if query:
                url += '?' + query
        else:
            body = query.encode('ascii')
            headers['Content-Type'] = 'application/x-www-form-urlencoded'
        conn = self._connection(timeout or self.timeout)
        try:
            conn.request(method, url, body=body, headers=headers)
            response = conn.getresponse()
            body = response.read()
            encoding = response.getheader('Content-Encoding')
        except BaseException:
            # a half-done exchange leaves the connection unusable
            conn.close()
            raise
        if encoding in ('gzip', 'deflate'):
            try:
                body = zlib.decompress(body, 16 + zlib.MAX_WBITS if encoding == 'gzip' else zlib.MAX_WBITS)
            except zlib.error:
                pass  # not what it said it was: the JSON check reports it
        return _Answer(response.status, response.reason, body)

    @property
    def session(self):
        """A requests session with this client's auth, for what http.client calls do not do (streamed uploads)."""
        if self._session is None:
            self._connect()
            requests = _requests()
            with self._connect_lock:
                if self._session is None:
                    session = requests.Session()
                    session.auth = self._auth
                    session.headers['Accept'] = 'application/json'
                    if self.pool_size > 10:
                        session.mount('https://', requests.adapters.HTTPAdapter(pool_connections=1,
                                                                                pool_maxsize=self.pool_size))
                    self._session = session
        return self._session

    def login(self, password, otp=None):
        """POST /access/ticket (then the TOTP step when PVE asks for it); returns (ticket, CSRF token).

        Only a 401 means wrong credentials; a proxy error or a dropped connection is retried like a read.
        """
        try:
            data = self._with_read_retries(lambda: self._ticket_call(dict(username=self.user, password=password)))
        except PVEError as err:
            if err.reason == 'transient':
                err.message = ('login of %s failed, the credentials were not checked: %s; Proxmox VE (or a proxy '
                               'in front of it) is not answering, try again later' % (self.identity, err.message))
            raise
        if data.get('NeedTFA') is not None:
            if not otp:
                raise PVEError('%s needs a second factor: set api_otp (or use an API token)' % self.identity,
                               kind='auth', status=401, method='POST', path='/access/ticket')
            data = self._ticket_call(dict(username=self.user, password='totp:%s' % otp,
                                          **{'tfa-challenge': data['ticket']}))
        return data['ticket'], data['CSRFPreventionToken']

    def _ticket_call(self, params):
        started = time.monotonic()
        try:
            response = self._exchange('POST', '/access/ticket', params)
        except TRANSPORT_ERRORS as err:
            self._record('POST', '/access/ticket', 'ERR', started)
            error = self._transport_error(err, 'POST', '/access/ticket')
            error.maybe_applied = False  # a login changes nothing
            raise error
        self._record('POST', '/access/ticket', response.status_code, started)
        if response.status_code == 401:
            otp = ' and api_otp' if self._credentials.get('otp') else ''
            reason = (response.reason or '').strip() or 'authentication failure'
            raise PVEError('authentication failed for %s at %s: check api_user and api_password%s (POST '
                           '/access/ticket: 401 %s)' % (self.identity, self.base_url, otp, reason),
                           kind='auth', status=401, method='POST', path='/access/ticket')
        if response.status_code != 200:
            raise self._http_error(response, 'POST', '/access/ticket')
        try:
            data = response.json().get('data') or {}
            if 'ticket' in data:
                return data
        except (ValueError, AttributeError):
            pass
        raise PVEError('POST /access/ticket: the answer has no ticket (is %s a Proxmox VE API?)' % self.base_url,
                       kind='http', status=200, method='POST', path='/access/ticket')

    def close(self):
        with self._connections_lock:
            connections, self._connections = self._connections, []
        with self._connect_lock:
            session, self._session = self._session, None
        for conn in connections:
            conn.close()
        self._local = threading.local()
        if session is not None:
            session.close()

    # -- calls ------------------------------------------------------------------------------------

    def get(self, api_path, **params):
        return self.request('GET', api_path, params)

    def post(self, api_path, **params):
        return self.request('POST', api_path, params)

    def put(self, api_path, **params):
        return self.request('PUT', api_path, params)

    def delete(self, api_path, **params):
        return self.request('DELETE', api_path, params)

    def request(self, method, path, params=None, timeout=None):
        """One API call; returns the `data` of PVE's answer or raises PVEError.

        Reads are retried with back-off on connection errors, proxy errors and lock-file timeouts.
        Writes are sent once: a write whose answer is lost, or answered by a proxy error (502/503/504),
        raises PVEError(maybe_applied=True).
        """
        params = dict((k, _wire_value(v)) for k, v in (params or {}).items() if v is not None)
        if method != 'GET':
            return self._send(method, path, params, timeout)
        return self._with_read_retries(lambda: self._send(method, path, params, timeout))

    def _with_read_retries(self, call):
        """call() until it succeeds, retrying connection errors, proxy errors and lock-file timeouts."""
        wait = Backoff(self.read_retry_budget, first=0.25, cap=4.0, factor=2, jitter=True)
        while True:
            try:
                return call()
            except PVEError as err:
                # a login inside the call retried on its own already
                retry = (err.kind in ('connection', 'http') and err.reason in ('transient', 'lock')
                         and not getattr(err, 'retried', False))
                if not retry or wait.attempts + 1 >= self.read_attempts or not wait.sleep():
                    if retry and wait.attempts:
                        err.retried = True
                        spent = self.read_retry_budget - max(0.0, wait.deadline - time.monotonic())
                        err.message += ' (tried %d times in %.1fs)' % (wait.attempts + 1, spent)
                    raise

    def _send(self, method, path, params, timeout):
        self._connect()
        # a ticket renewal that fails raises its own PVEError from here
        headers = self._auth.headers(method)
        started = time.monotonic()
        try:
            response = self._exchange(method, path, params, headers, timeout)
        except TRANSPORT_ERRORS as err:
            self._record(method, path, 'ERR', started)
            if method != 'GET':
                self.writes += 1
            raise self._transport_error(err, method, path)
        self._record(method, path, response.status_code, started)
        if method != 'GET' and response.status_code in GATEWAY_STATUSES:
            # the proxy stopped waiting, not the node: the write may have been carried out
            self.writes += 1
            err = self._http_error(response, method, path)
            err.maybe_applied = True
            raise err
        if response.status_code == 200:
            if method != 'GET':
                self.writes += 1
            try:
                return response.json().get('data')
            except (ValueError, AttributeError):
                raise PVEError('%s %s: the answer is not JSON (is %s a Proxmox VE API?)' % (method, path, self.base_url),
                               kind='http', status=200, method=method, path=path)
        raise self._http_error(response, method, path)

    def _record(self, method, path, status, started):
        duration = time.monotonic() - started
        self.calls.append((method, path, status, round(duration, 4)))
        if self._log:
            self._log('pve.cloud: %s %s -> %s in %.3fs' % (method, path, status, duration))

    def call_log(self):
        """The calls made so far as 'METHOD path -> status (seconds)' lines; no parameters, so no secrets."""
        return ['%s %s -> %s (%.3fs)' % call for call in self.calls]

    def _transport_error(self, err, method, path):
        """The PVEError for an exception of http.client, ssl or socket (or of requests, for uploads)."""
        text = str(err) or type(err).__name__
        requests = sys.modules.get('requests')
        exceptions = getattr(requests, 'exceptions', None)
        # a TLS connection that the other side closed is a broken connection, not a certificate problem
        closed = (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError)
        tls = isinstance(err, ssl.SSLError) and not isinstance(err, closed)
        if tls or 'CERTIFICATE_VERIFY_FAILED' in text or (exceptions is not None and isinstance(err, exceptions.SSLError)):
            return PVEError("TLS certificate of %s could not be verified (%s): pass the cluster's CA certificate with "
                            "ca_path (or PROXMOX_CA_PATH); validate_certs: false disables the check and is unsafe"
                            % (self.base_url, _short(text)), kind='tls', method=method, path=path)
        if isinstance(err, socket.timeout) or (exceptions is not None and isinstance(err, exceptions.Timeout)):
            kind_text = 'no answer within %ss (api_timeout)' % self.timeout
        else:
            kind_text = 'could not connect'
        return PVEError('%s %s: %s to %s: %s' % (method, path, kind_text, self.base_url, _short(text)),
                        kind='connection', method=method, path=path, maybe_applied=method != 'GET')

    def _http_error(self, response, method, path):
        status = response.status_code
        pve_message, errors = None, {}
        try:
            body = response.json()
            if isinstance(body, dict):
                pve_message = (body.get('message') or '').strip() or None
                errors = body.get('errors') or {}
        except ValueError:
            body = None
        # PVE puts the message in the reason phrase; bodies before libpve-http-server 5.2 lacked it.
        pve_message = pve_message or (response.reason or '').strip() or 'HTTP %s' % status
        where = '%s %s' % (method, path)
        if status == 401:
            what = 'api_token_id and api_token_secret' if self.token_name else 'api_user and api_password'
            return PVEError('authentication failed for %s (%s: %s): check %s' % (self.identity, where, pve_message, what),
                            kind='auth', status=status, method=method, path=path, pve_message=pve_message)
        if status == 403:
            match = PERMISSION_MESSAGE.search(pve_message)
            if match:
                hint = ('%s lacks privilege %s on %s: grant a role with it on that path (pveum acl modify %s ...)%s'
                        % (self.identity, match.group('privs').strip(), match.group('path'), match.group('path'),
                           '; a privilege-separated token needs its own ACL' if self.token_name else ''))
            else:
                hint = '%s is not allowed to do this' % self.identity
            return PVEError('%s: %s (%s)' % (where, hint, pve_message), kind='permission', status=status, method=method,
                            path=path, pve_message=pve_message, errors=errors)
        message = '%s: %s %s' % (where, status, pve_message)
        if errors:
            message += ' ' + '; '.join('%s: %s' % (k, str(v).strip()) for k, v in sorted(errors.items()))
        return PVEError(message, kind='http', status=status, method=method, path=path, pve_message=pve_message,
                        errors=errors)

    # -- tasks ------------------------------------------------------------------------------------

    def wait_task(self, upid, timeout=300, what=None):
        """Wait for a task on its own node; return a TaskResult or raise PVEError (kind task/timeout).

        Polls with back-off from 0.1 s up to 2 s and fails at the first poll that shows a failed task.
        """
        info = parse_upid(upid)
        if info is None:
            raise PVEError('expected a task id (UPID) from Proxmox, got %r' % (upid,), kind='http')
        status_path = '/nodes/%s/tasks/%s/status' % (info['node'], upid)
        wait = Backoff(timeout)
        while True:
            status = self.get(status_path)
            if status.get('status') == 'stopped':
                exitstatus = status.get('exitstatus') or ''
                if exitstatus == 'OK':
                    return TaskResult(upid, exitstatus)
                log = self.task_log(upid)
                if exitstatus.startswith('WARNINGS'):
                    warnings = [line for line in log if 'WARN' in line and not line.startswith('TASK ')]
                    return TaskResult(upid, exitstatus, warnings=warnings or [exitstatus], log=log)
                what = what or '%s task' % info['type']
                raise PVEError('%s failed: %s (task %s; log: %s)' % (what, exitstatus, upid, ' | '.join(log[-5:])),
                               kind='task', method='GET', path=status_path, pve_message=exitstatus, upid=upid,
                               task_log=log)
            if not wait.sleep(clip=True):
                raise PVEError('%s still running after %ss (task %s on node %s); it was not stopped, look at it in the '
                               'task log or raise the timeout' % (what or '%s task' % info['type'], timeout, upid,
                                                                  info['node']),
                               kind='timeout', upid=upid, path=status_path)

    def task_log(self, upid, tail=TASK_LOG_TAIL):
        """The last `tail` lines of a task's log."""
        node = parse_upid(upid)['node']
        path = '/nodes/%s/tasks/%s/log' % (node, upid)
        try:
            lines = self.get(path, start=0, limit=500) or []
        except PVEError:
            return []
        return [entry.get('t', '') for entry in lines][-tail:]

    def run_task(self, method, path, params=None, timeout=300, what=None):
        """Send a write that starts a task, then wait for it. Returns a TaskResult.

        Calls that PVE answers synchronously (null) return a TaskResult without a UPID.
        """
        answer = self.request(method, path, params)
        if parse_upid(answer) is None:
            return TaskResult(None, 'OK')
        return self.wait_task(answer, timeout=timeout, what=what or '%s %s' % (method, path))


# What the transport raises for a connection that failed, broke or timed out (SSL errors are OSErrors).
TRANSPORT_ERRORS = (OSError, http.client.HTTPException)
STATIC_HEADERS = {'Accept': 'application/json', 'Accept-Encoding': 'gzip, deflate', 'User-Agent': 'pve.cloud'}


class _Answer(object):
    """An HTTP answer, with the three things of requests' Response the error handling reads."""

    __slots__ = ('status_code', 'reason', 'body')

    def __init__(self, status, reason, body):
        self.status_code, self.reason, self.body = status, reason, body

    def json(self):
        return json.loads(self.body)


class _TokenAuth(object):
    """API token auth: one header, no login. Callable as a requests auth too (uploads)."""

    def __init__(self, user, token_name, secret):
        self._headers = {'Authorization': 'PVEAPIToken=%s!%s=%s' % (user, token_name, secret)}

    def headers(self, method):
        return self._headers

    def __call__(self, req):
        req.headers.update(self._headers)
        return req


class _TicketAuth(object):
    """Ticket (cookie) auth whose logins go through the client: PVE's answer is kept, transient ones retried."""

    # PVE tickets live 2 h; renewing after one leaves room for long tasks
    renew_age = 3600

    def __init__(self, client):
        self.client = client
        self.ticket = self.csrf = None
        self.birth_time = 0.0
        self._lock = threading.Lock()

    def renew(self, password=None, otp=None):
        # an unexpired ticket is accepted as the password for a new one
        self.ticket, self.csrf = self.client.login(password or self.ticket, otp)
        self.birth_time = time.monotonic()

    def _fresh(self):
        if time.monotonic() - self.birth_time >= self.renew_age:
            with self._lock:
                # another thread may have renewed it meanwhile
                if time.monotonic() - self.birth_time >= self.renew_age:
                    self.renew()

    def headers(self, method):
        self._fresh()
        headers = {'Cookie': 'PVEAuthCookie=%s' % self.ticket}
        if method != 'GET':
            headers['CSRFPreventionToken'] = self.csrf
        return headers

    def get_cookies(self):
        return _requests().cookies.cookiejar_from_dict({'PVEAuthCookie': self.ticket})

    def get_tokens(self):
        return self.ticket, self.csrf

    def __call__(self, req):
        # as a requests auth (uploads): the headers win over the session's cookie jar
        req.headers.update(self.headers(req.method))
        return req


def _https_proxy(host):
    """The proxy requests would take to reach host (HTTPS_PROXY, ALL_PROXY, NO_PROXY), as a urlsplit(), or None."""
    if not any(key.lower().endswith('_proxy') for key in os.environ):
        return None  # (urllib.request is not imported for nothing)
    import urllib.request
    proxies = urllib.request.getproxies_environment()
    url = proxies.get('https') or proxies.get('all')
    if not url or urllib.request.proxy_bypass_environment(host, proxies):
        return None
    return urlsplit(url if '://' in url else 'http://' + url)


def _default_ca_bundle():
    """The CA file requests would use without ca_path: REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, else certifi's."""
    bundle = os.environ.get('REQUESTS_CA_BUNDLE') or os.environ.get('CURL_CA_BUNDLE')
    if bundle:
        return bundle
    try:
        import certifi
        return certifi.where()
    except ImportError:
        return None  # the system's trust store


def _wire_value(value):
    # PVE rejects the strings "true"/"false" for booleans; it wants 0/1.
    if isinstance(value, bool):
        return int(value)
    return value


def _short(text, limit=300):
    text = ' '.join(str(text).split())
    return text if len(text) <= limit else text[:limit] + '...'
