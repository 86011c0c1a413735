"""The HTTPS front: PVE's wire envelope, reason phrases, request parsing, routing and the request log."""

import email.parser
import email.policy
import json
import os
import socket
import ssl
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .. import handlers
from ..faults import Faults
from ..model.content import Spool
from ..model.errors import PVEError
from . import schema as schema_mod
from . import upload as upload_mod
from .auth import PermChecker, authenticate

JSON_CT = "application/json;charset=UTF-8"
REDACT = ("password", "new-password", "cipassword", "secret", "value", "ticket", "otp", "tfa-challenge",
          "CSRFPreventionToken", "token")
NO_AUTH = {("POST", "/access/ticket"), ("GET", "/access/ticket"), ("GET", "/access/domains")}


class Response:
    __slots__ = ("status", "reason", "body", "ctype", "action", "headers")

    def __init__(self, status=200, reason="OK", body=b"", ctype=JSON_CT, action=None, headers=None):
        self.status = status
        self.reason = reason
        self.body = body
        self.ctype = ctype
        self.action = action
        self.headers = headers or {}


def ok(data, **extra):
    env = {"data": data}
    env.update(extra)
    return Response(200, "OK", json.dumps(env, separators=(",", ":")).encode())


def error(status, message, errors=None, plain=False):
    reason = message.split("\n", 1)[0]
    if status == 401:
        return Response(401, reason, b"", ctype="text/plain")
    if plain:
        return Response(status, reason, message.encode(), ctype="text/plain;charset=UTF-8")
    body = {"data": None, "message": message if message.endswith("\n") else message + "\n"}
    if errors:
        body["errors"] = errors
    return Response(status, reason, json.dumps(body, separators=(",", ":")).encode())


def to_extjs(resp):
    """api2/extjs: always HTTP 200 with {success, data, message?, status?, errors?}."""
    try:
        env = json.loads(resp.body.decode("utf-8")) if resp.ctype.startswith("application/json") else {}
    except ValueError:
        env = {}
    if resp.status == 200:
        env["success"] = 1
    else:
        env = {"success": 0, "data": None, "message": env.get("message", resp.reason + "\n"), "status": resp.status,
               **({"errors": env["errors"]} if env.get("errors") else {})}
    return Response(200, "OK", json.dumps(env, separators=(",", ":")).encode())


class RequestLog:
    def __init__(self, path=None):
        self.path = path
        self.entries = []
        self.seq = 0
        self.counters = {"reads": 0, "writes": 0, "logins": 0}
        self.mutex = threading.Lock()
        self._fh = open(path, "a", encoding="utf-8") if path else None

    def add(self, method, path, params, status, duration_ms, user):
        red = {}
        for k, v in params.items():
            if k in REDACT or k.endswith("password"):
                red[k] = "**********"
            elif isinstance(v, (bytes, bytearray)):
                red[k] = "<%d bytes>" % len(v)
            elif isinstance(v, Spool):
                red[k] = "<%d bytes>" % v.size
            else:
                red[k] = v
        with self.mutex:
            self.seq += 1
            entry = {"seq": self.seq, "time": time.time(), "method": method, "path": path, "params": red,
                     "status": status, "duration_ms": round(duration_ms, 3), "user": user}
            self.entries.append(entry)
            if len(self.entries) > 100000:
                del self.entries[:50000]
            if method == "POST" and path == "/access/ticket":
                self.counters["logins"] += 1
            elif method == "GET":
                self.counters["reads"] += 1
            else:
                self.counters["writes"] += 1
            if self._fh:
                self._fh.write(json.dumps(entry, default=str) + "\n")
                self._fh.flush()

    def since(self, seq):
        with self.mutex:
            return [e for e in self.entries if e["seq"] > seq]

    def reset(self):
        with self.mutex:
            self.entries = []
            self.counters = {"reads": 0, "writes": 0, "logins": 0}

    def counter_view(self):
        with self.mutex:
            return dict(self.counters, seq=self.seq)


def parse_qs(text):
    out = {}
    for k, v in urllib.parse.parse_qsl(text, keep_blank_values=True):
        if k in out:
            out[k] = out[k] + [v] if isinstance(out[k], list) else [out[k], v]
        else:
            out[k] = v
    return out


def parse_multipart(ctype, body):
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
    out = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            out["__file__"] = payload
            out["__filename__"] = part.get_filename()
            out[name] = part.get_filename()
        else:
            out[name] = payload.decode("utf-8", "replace")
    return out


class App:
    def __init__(self, cluster, state_dir=None, auth_delay=0.0):
        self.cluster = cluster
        self.faults = Faults(cluster)
        cluster.tasks.fail_hooks = [self.faults.task_hook]
        cluster.storage_full_hook = self.faults.storage_full
        self.state_dir = state_dir
        self.log = RequestLog(os.path.join(state_dir, "requests.jsonl") if state_dir else None)
        self.perms = PermChecker(cluster)
        self.auth_delay = auth_delay
        self.connection = {}

    @property
    def schema(self):
        """The routing schema of the PVE version the cluster answers as (a scenario may change it)."""
        return schema_mod.load(self.cluster.pve_major)

    def rewire(self):
        """Re-attach fault hooks after the model was reset."""
        self.cluster.tasks.fail_hooks = [self.faults.task_hook]
        self.cluster.storage_full_hook = self.faults.storage_full

    # --- main entry ---------------------------------------------------------
    def handle(self, method, raw_path, headers, body):
        url = urllib.parse.urlsplit(raw_path)
        path = url.path
        if path.startswith("/_pvesim/"):
            from .. import admin
            return admin.handle(self, method, path, url.query, body), None
        fmt = path.split("/")[2] if path.startswith("/api2/") and path.count("/") >= 2 else None
        if fmt not in ("json", "extjs"):
            return error(501, "no such uri", plain=True), None
        prefix = "/api2/%s/" % fmt
        raw_api = "/" + path[len(prefix):].strip("/")
        api_path = urllib.parse.unquote(raw_api)
        start = time.perf_counter()
        params = {}
        ident = None
        try:
            resp, params, ident = self._api(method, api_path, raw_api, url.query, headers, body)
        except PVEError as exc:
            resp = error(exc.status, exc.message, exc.errors)
        except Exception as exc:  # an internal error is a plain 500, as a Perl die would be
            import traceback
            traceback.print_exc()
            resp = error(500, "internal error: %s" % exc)
        if resp.status == 401 and self.auth_delay:
            time.sleep(self.auth_delay)
        self.log.add(method, api_path, params, resp.status, (time.perf_counter() - start) * 1000,
                     ident.authid if ident else None)
        if fmt == "extjs" and resp.action is None and resp.status != 401:
            resp = to_extjs(resp)
        return resp, api_path

    def _api(self, method, api_path, raw_api, query, headers, body):
        faults = self.faults.match_http(method, api_path) if self.faults.items else []
        action = after = None
        for f in faults:
            if f["kind"] == "latency":
                time.sleep(float(f.get("ms", 1000)) / 1000.0)
            elif f["kind"] == "reset":
                return Response(status=0, reason="", action="reset"), {}, None
            elif f["kind"] == "status":
                if f.get("after"):
                    # a proxy that gave up waiting while the node carried the call out
                    after = f
                    continue
                return status_fault(f), {}, None
            elif f["kind"] == "lost_response":
                action = "lost"
        if method in ("GET", "DELETE") and body:
            return error(501, "Unexpected content for method '%s'" % method, plain=True), {}, None
        schema_path, uri_params = self.schema.match(raw_api)
        mobj = self.schema.methods.get(schema_path, {}).get(method) if schema_path else None
        if mobj is None:
            return error(501, "Method '%s %s' not implemented" % (method, api_path)), {}, None
        params = self._params(headers, query, body)
        ident = None
        noauth = (method, schema_path) in NO_AUTH
        if noauth:
            if not mobj.allowtoken and "PVEAPIToken" in (headers.get("Authorization") or ""):
                raise PVEError("Permission check failed (URI '%s' not available with API token, need proper ticket.\n)"
                               % api_path, 403)
        else:
            try:
                # uploads are exempt from CSRF (pveproxy checks Datastore.AllocateTemplate instead)
                ident = authenticate(self.cluster.access, headers, method,
                                     csrf_exempt=schema_path == "/nodes/{node}/storage/{storage}/upload")
            except PVEError as exc:
                return error(exc.status, exc.message), params, None
            if ident is None:
                return error(401, "No ticket"), params, None
        if ident is not None and ident.method == "token" and not mobj.allowtoken:
            raise PVEError("Permission check failed (URI '%s' not available with API token, need proper ticket.\n)"
                           % api_path, 403)
        for k, v in uri_params.items():
            if k in params and str(params[k]) != v:
                raise PVEError("Parameter verification failed.", 400,
                               {k: "duplicate parameter (already defined in URI) with conflicting values!"})
            params[k] = v
        with self.cluster.lock:
            self.cluster.tick()
            if ident is not None and (method, schema_path) not in NO_AUTH:
                self.perms.evaluate(ident.authid, mobj.permissions, params)
            if "node" in uri_params and schema_path.startswith("/nodes/{node}"):
                node = self.cluster.get_node(uri_params["node"])
                if node.status != "online":
                    raise PVEError("No route to host", 595)
            for f in faults:
                if f["kind"] == "lock_timeout":
                    vmid = uri_params.get("vmid", f.get("vmid", params.get("vmid", 0)))
                    g = self.cluster.guests.get(int(vmid)) if str(vmid).isdigit() else None
                    lf = g.lock_file() if g else "/var/lock/qemu-server/lock-%s.conf" % vmid
                    raise PVEError("can't lock file '%s' - got timeout" % lf)
            upload = params.pop("__file__", None)
            fname = params.pop("__filename__", None)
            clean, errors = schema_mod.validate(mobj, params)
            if errors:
                raise PVEError("Parameter verification failed.", 400, errors)
            if upload is not None:
                clean["__file__"] = upload
                clean["__filename__"] = fname
            fn = handlers.ROUTES.get((method, schema_path))
            ctx = handlers.Ctx(self, mobj, clean, ident, uri_params)
            ctx.api_path = api_path
            if fn is None:
                result = handlers.fallback(ctx, schema_path)
            else:
                result = fn(ctx)
        if isinstance(result, Response):
            resp = result
        elif isinstance(result, handlers.RawJSON):
            resp = Response(200, "OK", ('{"data":%s}' % result.text).encode())
        elif isinstance(result, handlers.Result):
            resp = ok(result.data, **result.extra)
        else:
            resp = ok(result)
        if after is not None:
            resp = status_fault(after)
        resp.action = action
        return resp, params, ident

    def _params(self, headers, query, body):
        params = {}
        ctype = (headers.get("Content-Type") or "").lower()
        if isinstance(body, upload_mod.Received):
            if body.error:
                raise PVEError(body.error, 501)
            params.update(body.params)
        elif body:
            if ctype.startswith("application/json"):
                try:
                    data = json.loads(body.decode("utf-8"))
                except ValueError:
                    raise PVEError("malformed JSON string", 400)
                if isinstance(data, dict):
                    params.update(data)
            elif ctype.startswith("multipart/form-data"):
                params.update(parse_multipart(headers.get("Content-Type"), body))
            else:
                params.update(parse_qs(body.decode("utf-8", "replace")))
        if query:
            params.update(parse_qs(query))
        params.pop("_dc", None)
        return params


def status_fault(f):
    st = int(f.get("status", 500))
    msg = f.get("message") or {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
                               595: "Connection timed out"}.get(st, "Internal Server Error")
    if f.get("html"):
        html = ("<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n<center><h1>%d %s</h1></center>"
                "\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n" % (st, msg, st, msg))
        return Response(st, msg, html.encode(), ctype="text/html")
    return error(st, msg)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pve-api-daemon/3.0"
    sys_version = ""

    wbufsize = 1 << 16  # headers and body leave in one segment (avoids Nagle/delayed-ACK stalls)

    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, fmt, *args):
        pass

    def _run(self):
        length = int(self.headers.get("Content-Length") or 0)
        te = self.headers.get("Transfer-Encoding")
        if te:  # pveproxy refuses both (AnyEvent.pm unshift_read_header)
            if te.lower() == "chunked":
                upload_mod.discard_chunked(self.rfile)
                resp = error(501, "chunked transfer encoding not supported", plain=True)
            else:  # the body cannot be skipped: the connection ends with the answer
                self.close_connection = True
                resp = error(501, "Unknown transfer encoding '%s'" % te, plain=True)
                resp.headers["Connection"] = "close"
        elif upload_mod.wants_spool(self.command, self.path, self.headers.get("Content-Type")):
            # an upload is streamed to a spool file, never held in memory
            body = upload_mod.receive(self.rfile, length, self.headers.get("Content-Type"), self.server.app.state_dir)
            try:
                resp, _ = self.server.app.handle(self.command, self.path, self.headers, body)
            finally:
                body.cleanup()
        else:
            body = self.rfile.read(length) if length else b""
            resp, _ = self.server.app.handle(self.command, self.path, self.headers, body)
        if resp.action == "reset":
            self._drop()
            return
        if resp.action == "lost":
            self._drop()
            return
        reason = resp.reason.encode("latin-1", "replace").decode("latin-1").replace("\r", " ")
        self.send_response(resp.status, reason)
        self.send_header("Content-Type", resp.ctype)
        self.send_header("Content-Length", str(len(resp.body)))
        self.send_header("Cache-Control", "max-age=0")
        self.send_header("Pragma", "no-cache")
        for k, v in resp.headers.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(resp.body)

    def _drop(self):
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        except OSError:
            pass

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _run


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, app, port, certfile, keyfile):
        self.app = app
        super().__init__(("127.0.0.1", port), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(certfile, keyfile)
        self.socket = ctx.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def get_request(self):
        sock, addr = self.socket.accept()
        return sock, addr

    def finish_request(self, request, client_address):
        try:
            request.do_handshake()
        except (ssl.SSLError, OSError):
            return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        pass
