# -*- coding: utf-8 -*-
# Copyright (c) pve.cloud developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The API client against pvesim over real HTTPS: auth, TLS, errors, retries, tasks."""

from __future__ import annotations

import base64
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import certifi
import pytest

from ansible_collections.pve.cloud.plugins.module_utils.api import PVEClient, PVEError, parse_upid


def connect(sim, **options):
    params = dict(api_host=sim.host, api_port=sim.port, ca_path=sim.ca_path, api_token_id=sim.token_id,
                  api_token_secret=sim.token_secret)
    params.update(options)
    return PVEClient(**params)


def password_client(sim, **options):
    params = dict(api_token_id=None, api_token_secret=None, api_user=sim.user, api_password=sim.password)
    params.update(options)
    return connect(sim, **params)


def calls_to(sim, path, method=None):
    return [r for r in sim.requests() if r['path'] == path and (method is None or r['method'] == method)]


def create_vm(client, node='pve1', vmid=100, **config):
    return client.run_task('POST', '/nodes/%s/qemu' % node, dict(vmid=vmid, **config), timeout=30)


# -- authentication ---------------------------------------------------------------------------


def test_password_login_gets_a_ticket_once(pvesim):
    client = password_client(pvesim)
    assert client.get('/version')['release'].startswith('9')
    client.get('/nodes')
    assert pvesim.counters()['logins'] == 1
    assert [r['method'] for r in calls_to(pvesim, '/access/ticket')] == ['POST']


def test_ticket_auth_sends_csrf_token_on_writes(pvesim):
    client = password_client(pvesim)
    result = create_vm(client, vmid=101)
    assert result.exitstatus == 'OK'
    assert client.get('/nodes/pve1/qemu/101/config')['digest']


@pytest.mark.parametrize('form', ['full', 'bare'])
def test_token_auth_accepts_both_id_forms(pvesim, form):
    user, _sep, name = pvesim.token_id.partition('!')
    if form == 'full':
        client = connect(pvesim)
    else:
        client = connect(pvesim, api_user=user, api_token_id=name)
    assert client.get('/version')['version']
    assert pvesim.counters()['logins'] == 0


def test_token_id_of_another_user_is_refused_before_any_call(pvesim):
    before = pvesim.counters()
    with pytest.raises(PVEError) as err:
        connect(pvesim, api_user='alice@pve')
    assert err.value.kind == 'config'
    assert 'api_user' in str(err.value) and 'alice@pve' in str(err.value)
    assert pvesim.counters() == before


@pytest.mark.parametrize('options, words', [
    (dict(api_token_id=None, api_token_secret=None), ['no credentials', 'api_token_id', 'api_password']),
    (dict(api_password='x', api_user='root@pam'), ['both api_password and api_token_id']),
    (dict(api_token_secret=None), ['api_token_secret is missing']),
    (dict(api_token_id=None, api_token_secret=None, api_password='x'), ['api_user is required']),
    (dict(api_token_id='ci', api_token_secret='x'), ["has no user", 'api_user']),
])
def test_missing_or_contradictory_auth_says_what_to_set(pvesim, options, words):
    with pytest.raises(PVEError) as err:
        connect(pvesim, **options)
    assert err.value.kind == 'config'
    for word in words:
        assert word in str(err.value)


@pytest.mark.parametrize('host, port, expected', [
    ('https://{h}:{p}', 8006, None),
    ('https://{h}:{p}/', None, None),
    ('https://{h}:{p}/api2/json', 8006, None),
    ('{h}:{p}', 8006, None),
    ('{h}', '{p}', None),
])
def test_api_host_may_be_a_url(pvesim, host, port, expected):
    client = connect(pvesim, api_host=host.format(h=pvesim.host, p=pvesim.port),
                     api_port=pvesim.port if port == '{p}' else port)
    assert client.base_url == 'https://%s:%s/api2/json' % (pvesim.host, pvesim.port)
    assert client.get('/version')['release']


@pytest.mark.parametrize('options, param, words', [
    (dict(api_host='https://pve1:8443', api_port=9000), 'api_port', ['9000', '8443', 'api_host']),
    (dict(api_host='http://pve1:8006'), 'api_host', ['https only']),
    (dict(api_host='https://pve1:8006/ui'), 'api_host', ['https://HOST[:PORT]']),
    (dict(api_host='https://pve1:99999'), 'api_host', ['1..65535']),
    (dict(api_host=''), 'api_host', ['required']),
    (dict(api_host='pve 1'), 'api_host', ['host name']),
    (dict(api_port=0), 'api_port', ['1..65535']),
    (dict(api_port=70000), 'api_port', ['1..65535']),
    (dict(api_timeout=0), 'api_timeout', ['more than 0']),
    (dict(api_timeout=-5), 'api_timeout', ['more than 0']),
    (dict(api_token_id='root@pam!'), 'api_token_id', ['empty token name', 'user@realm!tokenname']),
    (dict(api_token_id='!ci'), 'api_token_id', ['empty user']),
    (dict(api_token_id='root!ci'), 'api_token_id', ['user@realm']),
    (dict(api_token_id=None, api_token_secret=None, api_user='root', api_password='x'), 'api_user', ['root@pam']),
])
def test_bad_connection_options_are_refused_before_any_call(pvesim, options, param, words):
    before = pvesim.counters()
    with pytest.raises(PVEError) as err:
        connect(pvesim, **options)
    assert err.value.kind == 'config' and err.value.param == param
    assert str(err.value).startswith(param)
    for word in words:
        assert word in str(err.value)
    assert pvesim.counters() == before


def test_wrong_password_names_the_user(pvesim):
    client = password_client(pvesim, api_password='wrong')
    with pytest.raises(PVEError) as err:
        client.get('/version')
    assert err.value.kind == 'auth' and err.value.status == 401
    assert "user 'root@pam'" in str(err.value) and 'api_password' in str(err.value)


def test_wrong_token_secret_names_the_token(pvesim):
    client = connect(pvesim, api_token_secret='00000000-0000-0000-0000-000000000000')
    with pytest.raises(PVEError) as err:
        client.get('/version')
    assert err.value.kind == 'auth' and err.value.status == 401
    assert pvesim.token_id in str(err.value) and 'api_token_secret' in str(err.value)


@pytest.mark.parametrize('fault', [dict(kind='status', status=502), dict(kind='status', status=503, html=True),
                                   dict(kind='reset')])
def test_transient_login_failure_is_retried(pvesim, fault):
    pvesim.fault(path='^/access/ticket$', method='POST', count=2, **fault)
    client = password_client(pvesim)
    assert client.get('/version')['release']
    assert len(calls_to(pvesim, '/access/ticket', 'POST')) == 3
    assert pvesim.counters()['logins'] == 3


def test_exhausted_login_retry_is_reported_as_transient(pvesim):
    pvesim.fault(path='^/access/ticket$', method='POST', kind='status', status=503, message='proxy busy', count=None)
    client = password_client(pvesim)
    with pytest.raises(PVEError) as err:
        client.get('/version')
    assert err.value.kind == 'http' and err.value.reason == 'transient' and err.value.status == 503
    assert 'POST /access/ticket' in str(err.value) and 'proxy busy' in str(err.value)
    assert 'check api_user' not in str(err.value) and 'authentication failed' not in str(err.value)
    assert len(calls_to(pvesim, '/access/ticket', 'POST')) == client.read_attempts
    assert calls_to(pvesim, '/version') == []


def test_old_ticket_is_renewed_with_itself(pvesim):
    client = password_client(pvesim)
    client.get('/version')
    client._auth.birth_time -= client._auth.renew_age
    create_vm(client, vmid=102)
    tickets = calls_to(pvesim, '/access/ticket', 'POST')
    assert len(tickets) == 2 and tickets[1]['params']['password'] == '**********'
    assert client.get('/nodes/pve1/qemu/102/config')['digest']


# -- TLS --------------------------------------------------------------------------------------


def test_ca_path_wins_over_requests_ca_bundle(pvesim, monkeypatch):
    monkeypatch.setenv('REQUESTS_CA_BUNDLE', certifi.where())
    assert connect(pvesim).get('/version')


def test_untrusted_certificate_says_to_pass_ca_path(pvesim, monkeypatch):
    monkeypatch.setenv('REQUESTS_CA_BUNDLE', certifi.where())
    with pytest.raises(PVEError) as err:
        connect(pvesim, ca_path=None).get('/version')
    assert err.value.kind == 'tls'
    assert 'ca_path' in str(err.value) and 'could not be verified' in str(err.value)


def test_untrusted_certificate_on_password_login(pvesim, monkeypatch):
    monkeypatch.setenv('REQUESTS_CA_BUNDLE', certifi.where())
    with pytest.raises(PVEError) as err:
        password_client(pvesim, ca_path=None).get('/version')
    assert err.value.kind == 'tls'


def test_https_proxy_is_a_verified_tunnel(pvesim, monkeypatch):
    with _ConnectProxy() as proxy:
        monkeypatch.setenv('HTTPS_PROXY', 'http://user:secret@127.0.0.1:%d' % proxy.port)
        monkeypatch.delenv('NO_PROXY', raising=False)
        monkeypatch.delenv('no_proxy', raising=False)
        assert connect(pvesim).get('/version')['release']
    assert proxy.requests == ['CONNECT %s:%s' % (pvesim.host, pvesim.port)]
    assert proxy.authorization == 'Basic ' + base64.b64encode(b'user:secret').decode()


def test_no_proxy_bypasses_the_proxy(pvesim, monkeypatch):
    with _ConnectProxy() as proxy:
        monkeypatch.setenv('HTTPS_PROXY', 'http://127.0.0.1:%d' % proxy.port)
        monkeypatch.setenv('NO_PROXY', pvesim.host)
        assert connect(pvesim).get('/version')['release']
    assert proxy.requests == []


class _ConnectProxy(object):
    """A CONNECT-only HTTP proxy on a free port, enough to see that the client tunnels through it."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(('127.0.0.1', 0))
        self.listener.listen(5)
        self.port = self.listener.getsockname()[1]
        self.requests, self.authorization = [], None

    def __enter__(self):
        threading.Thread(target=self._serve, daemon=True).start()
        return self

    def __exit__(self, *_exc):
        self.listener.close()

    def _serve(self):
        try:
            client, _addr = self.listener.accept()
        except OSError:
            return
        head = b''
        while b'\r\n\r\n' not in head:
            head += client.recv(4096)
        lines = head.decode().split('\r\n')
        self.requests.append(lines[0].rsplit(' ', 1)[0])
        for line in lines[1:]:
            if line.lower().startswith('proxy-authorization:'):
                self.authorization = line.split(':', 1)[1].strip()
        host, port = lines[0].split()[1].rsplit(':', 1)
        upstream = socket.create_connection((host, int(port)))
        client.sendall(b'HTTP/1.1 200 Connection established\r\n\r\n')
        for one, other in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pipe, args=(one, other), daemon=True).start()


def _pipe(source, target):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            target.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, target):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


# -- connections ------------------------------------------------------------------------------


def test_threads_each_keep_one_connection(pvesim):
    client = connect(pvesim)
    client.get('/version')
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _n: client.get('/nodes/pve1/status')['cpuinfo'], range(80)))
    assert len(answers) == 80
    # the main thread's and at most one per worker, each reused for its calls
    assert 2 <= len(client._connections) <= 9
    client.close()
    assert client._connections == [] and client.get('/version')['release']


def test_a_connection_the_server_closed_is_replaced_before_a_write(pvesim):
    client = connect(pvesim)
    client.get('/version')
    # the server side of the idle keep-alive connection goes away, as pveproxy's does after a while
    client._local.conn.sock.shutdown(socket.SHUT_WR)
    time.sleep(0.2)
    assert parse_upid(client.post('/nodes/pve1/qemu', vmid=160))
    assert len(calls_to(pvesim, '/nodes/pve1/qemu', 'POST')) == 1 and client.writes == 1


# -- PVE errors -------------------------------------------------------------------------------


def test_permission_error_names_privilege_and_path(pvesim):
    root = connect(pvesim)
    root.post('/access/users', userid='auditor@pve')
    token = root.post('/access/users/auditor@pve/token/ci', privsep=0)
    root.put('/access/acl', path='/', roles='PVEAuditor', users='auditor@pve')
    auditor = connect(pvesim, api_token_id='auditor@pve!ci', api_token_secret=token['value'])
    assert auditor.get('/version')
    before = pvesim.counters()['writes']
    with pytest.raises(PVEError) as err:
        auditor.post('/nodes/pve1/qemu', vmid=150)
    assert err.value.kind == 'permission' and err.value.status == 403
    assert 'VM.Allocate' in str(err.value) and '/vms/150' in str(err.value)
    assert "API token 'auditor@pve!ci'" in str(err.value)
    assert pvesim.counters()['writes'] == before + 1


def test_parameter_errors_keep_field_messages(pvesim):
    with pytest.raises(PVEError) as err:
        connect(pvesim).post('/nodes/pve1/qemu', vmid=100, cores='many')
    assert err.value.status == 400
    assert 'cores' in err.value.errors
    assert 'Parameter verification failed.' in str(err.value)
    assert 'cores: ' in str(err.value) and 'POST /nodes/pve1/qemu' in str(err.value)


def test_pve_message_and_call_in_plain_errors(pvesim):
    with pytest.raises(PVEError) as err:
        connect(pvesim).get('/nodes/pve1/qemu/4242/config')
    assert err.value.status == 500
    assert 'GET /nodes/pve1/qemu/4242/config' in str(err.value)
    assert '4242' in err.value.pve_message


def test_unknown_path_is_reported_as_not_implemented(pvesim):
    with pytest.raises(PVEError) as err:
        connect(pvesim).get('/nodes/pve1/no-such-thing')
    assert err.value.status == 501
    assert 'not implemented' in str(err.value)


# -- retries ----------------------------------------------------------------------------------


@pytest.mark.parametrize('html', [False, True])
def test_reads_are_retried_through_proxy_errors(pvesim, html):
    client = connect(pvesim)
    pvesim.fault(path='^/version$', method='GET', kind='status', status=502, html=html, count=2)
    assert client.get('/version')['release']
    assert [r['status'] for r in calls_to(pvesim, '/version')] == [502, 502, 200]


def test_read_retries_are_bounded(pvesim):
    client = connect(pvesim)
    pvesim.fault(path='^/version$', method='GET', kind='status', status=503, count=None)
    started = time.monotonic()
    with pytest.raises(PVEError) as err:
        client.get('/version')
    assert err.value.status == 503
    assert len(calls_to(pvesim, '/version')) == client.read_attempts
    assert time.monotonic() - started < client.read_retry_budget


def test_reads_are_retried_after_connection_reset(pvesim):
    client = connect(pvesim)
    client.get('/version')
    pvesim.fault(path='^/nodes$', method='GET', kind='reset', count=1)
    assert [n['node'] for n in client.get('/nodes')]


def test_595_is_retried_for_reads(pvesim):
    client = connect(pvesim)
    pvesim.fault(path='^/cluster/resources$', kind='status', status=595, message='No route to host', count=1)
    assert isinstance(client.get('/cluster/resources', type='vm'), list)


def test_writes_are_never_resent(pvesim):
    client = connect(pvesim)
    client.get('/version')
    pvesim.fault(path='^/nodes/pve1/qemu$', method='POST', kind='status', status=502, count=1)
    with pytest.raises(PVEError) as err:
        client.post('/nodes/pve1/qemu', vmid=120)
    assert err.value.status == 502
    assert len(calls_to(pvesim, '/nodes/pve1/qemu', 'POST')) == 1


@pytest.mark.parametrize('status', [502, 503, 504])
def test_gateway_error_on_a_write_is_maybe_applied(pvesim, status):
    client = connect(pvesim)
    client.get('/version')
    pvesim.fault(path='^/nodes/pve1/qemu$', method='POST', kind='status', status=status, after=True, count=1)
    with pytest.raises(PVEError) as err:
        client.post('/nodes/pve1/qemu', vmid=122)
    assert err.value.maybe_applied and err.value.status == status and err.value.reason == 'transient'
    assert client.writes == 1 and len(calls_to(pvesim, '/nodes/pve1/qemu', 'POST')) == 1
    assert any(g.get('vmid') in (122, '122') for g in client.get('/cluster/resources', type='vm'))


def test_refused_write_is_not_maybe_applied(pvesim):
    client = connect(pvesim)
    pvesim.fault(path='^/nodes/pve1/qemu$', method='POST', kind='status', status=500, message='boom', count=1)
    with pytest.raises(PVEError) as err:
        client.post('/nodes/pve1/qemu', vmid=123)
    assert not err.value.maybe_applied and client.writes == 0


def test_lost_write_response_is_flagged_maybe_applied(pvesim):
    client = connect(pvesim)
    client.get('/version')
    pvesim.fault(path='^/nodes/pve1/qemu$', method='POST', kind='lost_response', count=1)
    with pytest.raises(PVEError) as err:
        client.post('/nodes/pve1/qemu', vmid=121)
    assert err.value.kind == 'connection' and err.value.maybe_applied
    assert len(calls_to(pvesim, '/nodes/pve1/qemu', 'POST')) == 1
    # the write was committed although the answer was lost: the caller must look before it retries
    assert any(g.get('vmid') in (121, '121') for g in client.get('/cluster/resources', type='vm'))


# -- tasks ------------------------------------------------------------------------------------


def test_task_is_polled_on_its_own_node(pvesim):
    client = connect(pvesim)
    result = create_vm(client, node='pve2', vmid=130)
    assert result.exitstatus == 'OK' and parse_upid(result.upid)['node'] == 'pve2'
    polled = [r['path'] for r in pvesim.requests() if r['path'].endswith('/status') and '/tasks/' in r['path']]
    assert polled and all(p.startswith('/nodes/pve2/tasks/') for p in polled)


def test_failed_task_fails_at_first_poll_with_log_tail(pvesim):
    client = connect(pvesim)
    pvesim.fault(kind='task_fail', task_type='qmcreate', message='storage full simulated', count=1)
    with pytest.raises(PVEError) as err:
        create_vm(client, vmid=131)
    assert err.value.kind == 'task'
    assert 'storage full simulated' in str(err.value)
    assert err.value.task_log and err.value.task_log[-1].startswith('TASK ERROR')
    polls = [r for r in pvesim.requests() if r['path'].endswith('/status') and '/tasks/' in r['path']]
    assert len(polls) == 1


def test_task_warnings_are_passed_on(pvesim):
    client = connect(pvesim)
    pvesim.fault(kind='task_warn', task_type='qmcreate', message='simulated warning', count=1)
    result = create_vm(client, vmid=132)
    assert result.exitstatus.startswith('WARNINGS')
    assert any('simulated warning' in w for w in result.warnings)


def test_task_timeout_names_the_task(tmp_path):
    from pvesim.testing import start_server
    sim = start_server(str(tmp_path / 'slow'), nodes=1, time_scale=1.0)
    try:
        client = connect(sim)
        upid = client.post('/nodes/pve1/qemu', vmid=140, scsi0='local-lvm:32')
        with pytest.raises(PVEError) as err:
            client.wait_task(upid, timeout=0.3, what='creating VM 140')
        assert err.value.kind == 'timeout'
        assert 'creating VM 140 still running after 0.3s' in str(err.value)
        assert upid in str(err.value)
    finally:
        sim.stop()


def test_calls_are_logged_without_secrets(pvesim):
    lines = []
    client = password_client(pvesim, log=lines.append)
    client.get('/version')
    assert any('POST /access/ticket -> 200' in line for line in lines)
    assert any('GET /version -> 200' in line for line in lines)
    assert not any(pvesim.password in line for line in lines)
    assert client.calls[-1][:3] == ('GET', '/version', 200)
