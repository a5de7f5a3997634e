#!/usr/bin/env python3
"""oauth_server.py: a local OAuth 2.0 authorization server for the tests.

Built on python3-oauthlib (Debian 12: 3.2.2), over HTTPS with the test CA,
on a free loopback port. oauthlib supplies the authorization code grant
with PKCE, the refresh grant with rotation, revocation (RFC 7009) and
introspection (RFC 7662). oauthlib 3.2.2 has only the client half of the
device authorization grant (RFC 8628), so the server half is written here,
minting its tokens with oauthlib's BearerToken and the same validator.

    oauth_server.py serve --cert PEM --key KEY --portfile FILE [options]
    oauth_server.py ctl   --port P --ca CA key=value...   (POST /control)
    oauth_server.py stats --port P --ca CA [KEY]          (GET /stats)
    oauth_server.py get   --ca CA URL                     (one GET, no
                          redirects; prints "STATUS LOCATION", then body)
    oauth_server.py revoke --port P --ca CA TOKEN [HINT]  (POST /revoke as
                          the public client; prints the status)

Endpoints (all under https://127.0.0.1:PORT):
    GET  /authorize    authorization code + PKCE; approves at once as the
                       user (or redirects with error=access_denied when
                       "deny" is set)
    POST /device       device authorization (RFC 8628 section 3.1)
    GET  /device-verify?user_code=X   the "user" approves a device code
    POST /token        authorization_code, refresh_token, device_code
    POST /revoke       RFC 7009 (public client: client_id in the body)
    POST /introspect   RFC 7662; needs Basic auth as the resource server
                       client "dovecot" (secret "dovecot-secret")
    POST /control      JSON object of test controls (below)
    GET  /stats        JSON counters and the tokens issued

Clients: "popfetch-test" (public), "popfetch-conf" (confidential, secret
"conf-secret"), "dovecot" (introspection only). Scopes: "pop3" and
"offline_access". The user is --user (default alice).

Controls (serve flags --NAME, or /control keys; "mode_count" applies to
"mode"): access_ttl (seconds, default 3600), refresh_stated_ttl (seconds
reported as refresh_token_expires_in, 0 = not reported), rotate (refresh
tokens rotate, default true), interval (device poll interval, default 1),
device_ttl (default 600), device_pending (polls answered
authorization_pending before approval, default 0), device_slow_down (then
polls answered slow_down, default 0), device_result (approve | deny |
expire), deny (the authorize endpoint denies), mode (what /token and
/device answer: normal | http500 | malformed | oversized | slow | redirect |
chunked | html200), mode_count (how many requests get the mode, then
normal again; -1 = all), slow_seconds (default 10), revoke_all (revoke
every token now).
"""

import argparse
import base64
import http.client
import http.server
import json
import os
import secrets
import socket
import ssl
import sys
import threading
import time
import urllib.parse

try:
    from oauthlib.common import Request
    from oauthlib.oauth2 import RequestValidator, Server
    from oauthlib.oauth2.rfc6749.tokens import BearerToken
except ImportError:  # the ctl/stats/get helpers work without it
    RequestValidator = object
    Server = None

USER = "alice"
SCOPES = {"pop3", "offline_access"}
CLIENTS = {
    "popfetch-test": {"secret": None,
                      "grants": {"authorization_code", "refresh_token",
                                 "urn:ietf:params:oauth:grant-type:device_code"}},
    "popfetch-conf": {"secret": "conf-secret",
                      "grants": {"authorization_code", "refresh_token",
                                 "urn:ietf:params:oauth:grant-type:device_code"}},
    "dovecot": {"secret": "dovecot-secret", "grants": set()},
}
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


class Client:
    def __init__(self, client_id):
        self.client_id = client_id


class State:
    """Everything the server knows; one lock for all of it."""

    def __init__(self, opts):
        self.lock = threading.RLock()
        self.codes = {}      # code -> dict
        self.access = {}     # token -> dict(user, scopes, client, exp, grant, active)
        self.refresh = {}    # token -> dict(user, scopes, client, grant, active)
        self.devices = {}    # device_code -> dict
        self.user_codes = {}  # user_code -> device_code
        self.stats = {"token": 0, "device": 0, "authorize": 0, "revoke": 0,
                      "introspect": 0, "refresh": 0, "device_polls": [],
                      "too_fast": 0, "issued_refresh": [], "issued_access": [],
                      "grants": {}}
        self.ctl = {
            "access_ttl": opts.access_ttl,
            "refresh_stated_ttl": opts.refresh_stated_ttl,
            "rotate": not opts.no_rotate,
            "interval": opts.interval,
            "device_ttl": 600,
            "device_pending": opts.device_pending,
            "device_slow_down": opts.device_slow_down,
            "device_result": "approve",
            "deny": False,
            "mode": "normal",
            "mode_count": -1,
            "slow_seconds": 10,
        }
        self.grant_seq = 0

    def take_mode(self):
        """The failure mode for this request, counting it down."""
        with self.lock:
            mode = self.ctl["mode"]
            if mode == "normal":
                return mode
            if self.ctl["mode_count"] == 0:
                return "normal"
            if self.ctl["mode_count"] > 0:
                self.ctl["mode_count"] -= 1
            return mode


class Validator(RequestValidator):
    """oauthlib's storage and policy hooks, over State."""

    def __init__(self, st):
        super().__init__()
        self.st = st

    # clients
    def _basic(self, request):
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Basic "):
            return None, None
        try:
            raw = base64.b64decode(auth[6:]).decode()
        except Exception:
            return None, None
        cid, _, secret = raw.partition(":")
        return urllib.parse.unquote(cid), urllib.parse.unquote(secret)

    def client_authentication_required(self, request, *args, **kwargs):
        cid, _ = self._basic(request)
        cid = cid or request.client_id
        return cid in CLIENTS and CLIENTS[cid]["secret"] is not None

    def authenticate_client(self, request, *args, **kwargs):
        cid, secret = self._basic(request)
        if cid is None:
            cid, secret = request.client_id, request.client_secret
        c = CLIENTS.get(cid)
        if c is None or c["secret"] is None or c["secret"] != secret:
            return False
        request.client = Client(cid)
        request.client_id = cid
        return True

    def authenticate_client_id(self, client_id, request, *args, **kwargs):
        c = CLIENTS.get(client_id)
        if c is None or c["secret"] is not None:
            return False
        request.client = Client(client_id)
        return True

    def validate_client_id(self, client_id, request, *args, **kwargs):
        return client_id in CLIENTS and client_id != "dovecot"

    def validate_grant_type(self, client_id, grant_type, client, request,
                            *args, **kwargs):
        return grant_type in CLIENTS.get(client_id, {"grants": set()})["grants"]

    # redirect URIs: any loopback port (RFC 8252 section 7.3)
    def validate_redirect_uri(self, client_id, redirect_uri, request, *args,
                              **kwargs):
        u = urllib.parse.urlparse(redirect_uri)
        return (u.scheme == "http" and u.hostname in ("127.0.0.1", "localhost")
                and u.port is not None)

    def get_default_redirect_uri(self, client_id, request, *args, **kwargs):
        return None

    def validate_response_type(self, client_id, response_type, client,
                               request, *args, **kwargs):
        return response_type == "code"

    def validate_scopes(self, client_id, scopes, client, request, *args,
                        **kwargs):
        return all(s in SCOPES for s in scopes)

    def get_default_scopes(self, client_id, request, *args, **kwargs):
        return ["pop3"]

    # authorization codes with PKCE
    def is_pkce_required(self, client_id, request):
        return True

    def save_authorization_code(self, client_id, code, request, *args,
                                **kwargs):
        with self.st.lock:
            self.st.codes[code["code"]] = {
                "client": client_id, "redirect_uri": request.redirect_uri,
                "scopes": list(request.scopes), "user": request.user,
                "challenge": request.code_challenge,
                "method": request.code_challenge_method,
                "exp": time.time() + 120,
            }

    def validate_code(self, client_id, code, client, request, *args,
                      **kwargs):
        with self.st.lock:
            c = self.st.codes.get(code)
            if c is None or c["client"] != client_id or c["exp"] < time.time():
                return False
            request.user = c["user"]
            request.scopes = c["scopes"]
            return True

    def confirm_redirect_uri(self, client_id, code, redirect_uri, client,
                             request, *args, **kwargs):
        c = self.st.codes.get(code)
        return c is not None and c["redirect_uri"] == redirect_uri

    def get_code_challenge(self, code, request):
        c = self.st.codes.get(code)
        return c["challenge"] if c else None

    def get_code_challenge_method(self, code, request):
        c = self.st.codes.get(code)
        return c["method"] if c else None

    def invalidate_authorization_code(self, client_id, code, request, *args,
                                      **kwargs):
        with self.st.lock:
            self.st.codes.pop(code, None)

    # tokens
    def save_bearer_token(self, token, request, *args, **kwargs):
        st = self.st
        with st.lock:
            old = request.refresh_token
            grant = st.refresh[old]["grant"] if old in st.refresh else None
            if grant is None:
                st.grant_seq += 1
                grant = st.grant_seq
            now = time.time()
            st.access[token["access_token"]] = {
                "user": request.user, "scopes": list(request.scopes or []),
                "client": request.client_id, "exp": now + token["expires_in"],
                "grant": grant, "active": True}
            st.stats["issued_access"].append(token["access_token"])
            rt = token.get("refresh_token")
            if rt and rt != old:
                st.refresh[rt] = {
                    "user": request.user, "scopes": list(request.scopes or []),
                    "client": request.client_id, "grant": grant,
                    "active": True}
                st.stats["issued_refresh"].append(rt)
                if old in st.refresh:
                    st.refresh[old]["active"] = False  # rotated out
            if rt and st.ctl["refresh_stated_ttl"] > 0:
                token["refresh_token_expires_in"] = st.ctl["refresh_stated_ttl"]

    def validate_refresh_token(self, refresh_token, client, request, *args,
                               **kwargs):
        with self.st.lock:
            r = self.st.refresh.get(refresh_token)
            if r is None or not r["active"] or r["client"] != client.client_id:
                return False
            request.user = r["user"]
            return True

    def get_original_scopes(self, refresh_token, request, *args, **kwargs):
        return self.st.refresh[refresh_token]["scopes"]

    def rotate_refresh_token(self, request):
        return self.st.ctl["rotate"]

    def revoke_token(self, token, token_type_hint, request, *args, **kwargs):
        st = self.st
        with st.lock:
            grant = None
            if token in st.refresh:
                grant = st.refresh[token]["grant"]
            elif token in st.access:
                st.access[token]["active"] = False
                return
            if grant is not None:  # a refresh token takes its grant along
                for t in list(st.refresh.values()) + list(st.access.values()):
                    if t["grant"] == grant:
                        t["active"] = False

    def introspect_token(self, token, token_type_hint, request, *args,
                         **kwargs):
        with self.st.lock:
            a = self.st.access.get(token)
            if a is None or not a["active"] or a["exp"] < time.time():
                return None
            return {"username": a["user"], "sub": a["user"],
                    "scope": " ".join(a["scopes"]), "client_id": a["client"],
                    "token_type": "Bearer", "exp": int(a["exp"])}


def make_server(st):
    """oauthlib's all-in-one server, access-token lifetime from State."""
    v = Validator(st)
    return Server(v, token_expires_in=lambda req: st.ctl["access_ttl"]), v


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "oauth_server.py"

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (time.strftime("%H:%M:%S"),
                                      fmt % args))

    # plumbing
    def _uri(self):
        return "https://127.0.0.1:%d%s" % (self.server.server_port, self.path)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n).decode("utf-8", "replace") if n else ""

    def _send(self, status, body, ctype="application/json", headers=None,
              chunked=False):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Cache-Control", "no-store")
        for k, v in (headers or {}).items():
            if k.lower() not in ("content-type", "cache-control"):
                self.send_header(k, v)
        self.send_header("Connection", "close")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(data), 7):
                part = data[i:i + 7]
                self.wfile.write(b"%x;n=1\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\nX-End: 1\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        self.close_connection = True

    def _json(self, status, obj, **kw):
        self._send(status, json.dumps(obj), **kw)

    def _fault(self, mode):
        """Answer with a failure mode; True when it answered."""
        st = self.server.st
        if mode == "http500":
            self._send(500, "<html><body>Internal Server Error</body></html>",
                       "text/html")
        elif mode == "html200":
            self._send(200, "<html><body>Please log in</body></html>",
                       "text/html")
        elif mode == "malformed":
            self._send(200, '{"access_token": "x", "expires_in": 3600')
        elif mode == "oversized":
            self._json(200, {"access_token": "x", "token_type": "Bearer",
                             "pad": "p" * (300 * 1024)})
        elif mode == "redirect":
            self._send(302, "", "text/html",
                       {"Location": "https://elsewhere.example/token"})
        elif mode == "slow":
            time.sleep(st.ctl["slow_seconds"])
            return False
        else:
            return False
        return True

    # endpoints
    def do_GET(self):
        path = urllib.parse.urlparse(self.path).path
        if path == "/authorize":
            return self.authorize()
        if path == "/device-verify":
            return self.device_verify()
        if path == "/stats":
            with self.server.st.lock:
                return self._json(200, self.server.st.stats)
        self._json(404, {"error": "not_found"})

    def do_POST(self):
        path = urllib.parse.urlparse(self.path).path
        body = self._body()
        st = self.server.st
        if path == "/control":
            return self.control(body)
        if path in ("/token", "/device"):
            mode = st.take_mode()
            if self._fault(mode):
                return
            chunked = mode == "chunked"
            if path == "/device":
                return self.device(body, chunked)
            return self.token(body, chunked)
        if path == "/revoke":
            st.stats["revoke"] += 1
            h, b, s = self.server.oauth.create_revocation_response(
                self._uri(), "POST", body, dict(self.headers))
            return self._send(s, b or "", headers=h)
        if path == "/introspect":
            st.stats["introspect"] += 1
            h, b, s = self.server.oauth.create_introspect_response(
                self._uri(), "POST", body, dict(self.headers))
            return self._send(s, b or "", headers=h)
        self._json(404, {"error": "not_found"})

    def control(self, body):
        st = self.server.st
        req = json.loads(body or "{}")
        with st.lock:
            if req.pop("revoke_all", False):
                for t in list(st.access.values()) + list(st.refresh.values()):
                    t["active"] = False
            for k, v in req.items():
                if k not in st.ctl:
                    return self._json(400, {"error": "unknown control " + k})
                st.ctl[k] = v
            self._json(200, st.ctl)

    def authorize(self):
        st = self.server.st
        st.stats["authorize"] += 1
        oauth = self.server.oauth
        try:
            scopes, creds = oauth.validate_authorization_request(self._uri())
        except Exception as e:  # fatal client errors: no redirect
            return self._send(400, "bad authorization request: %s" % e,
                              "text/plain")
        if st.ctl["deny"]:
            q = urllib.parse.urlencode({"error": "access_denied",
                                        "error_description": "the user said no",
                                        "state": creds.get("state") or ""})
            return self._send(302, "", "text/plain",
                              {"Location": creds["redirect_uri"] + "?" + q})
        creds["user"] = USER
        h, b, s = oauth.create_authorization_response(
            self._uri(), scopes=scopes, credentials=creds)
        self._send(s, b or "", "text/plain", h)

    def device(self, body, chunked):
        """RFC 8628 section 3.1, written here (oauthlib 3.2.2 lacks it)."""
        st = self.server.st
        st.stats["device"] += 1
        p = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
        cid = p.get("client_id")
        c = CLIENTS.get(cid)
        if c is None or cid == "dovecot" or (
                c["secret"] is not None and p.get("client_secret") != c["secret"]):
            return self._json(401, {"error": "invalid_client"})
        scopes = (p.get("scope") or "pop3").split()
        if not all(s in SCOPES for s in scopes):
            return self._json(400, {"error": "invalid_scope"})
        dc = secrets.token_urlsafe(32)
        uc = "%s-%s" % (secrets.token_hex(2).upper(), secrets.token_hex(2).upper())
        base = "https://127.0.0.1:%d/device-verify" % self.server.server_port
        with st.lock:
            st.devices[dc] = {"client": cid, "scopes": scopes, "polls": 0,
                              "last": None, "interval": st.ctl["interval"],
                              "exp": time.time() + st.ctl["device_ttl"],
                              "approved": False}
            st.user_codes[uc] = dc
            ttl = st.ctl["device_ttl"]
            interval = st.ctl["interval"]
        self._json(200, {"device_code": dc, "user_code": uc,
                         "verification_uri": base,
                         "verification_uri_complete": base + "?user_code=" + uc,
                         "expires_in": ttl, "interval": interval},
                   chunked=chunked)

    def device_verify(self):
        st = self.server.st
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(self.path).query))
        with st.lock:
            dc = st.user_codes.get(q.get("user_code", ""))
            if dc is None or dc not in st.devices:
                return self._send(404, "unknown code", "text/plain")
            st.devices[dc]["approved"] = True
        self._send(200, "approved", "text/plain")

    def device_poll(self, p, chunked):
        """RFC 8628 section 3.4/3.5: pending, slow_down, denial, expiry."""
        st = self.server.st
        cid = p.get("client_id")
        c = CLIENTS.get(cid)
        if c is None or (c["secret"] is not None
                         and p.get("client_secret") != c["secret"]):
            return self._json(401, {"error": "invalid_client"})
        now = time.time()
        with st.lock:
            d = st.devices.get(p.get("device_code", ""))
            if d is None or d["client"] != cid:
                return self._json(400, {"error": "invalid_grant"})
            st.stats["device_polls"].append(now)
            if d["exp"] < now or st.ctl["device_result"] == "expire":
                return self._json(400, {"error": "expired_token"})
            d["polls"] += 1
            too_fast = d["last"] is not None and \
                now - d["last"] < d["interval"] - 0.2
            d["last"] = now
            if too_fast:
                st.stats["too_fast"] += 1
                d["interval"] += 5
                return self._json(400, {"error": "slow_down"})
            pending = st.ctl["device_pending"]
            if d["polls"] <= pending and not d["approved"]:
                return self._json(400, {"error": "authorization_pending"})
            if d["polls"] <= pending + st.ctl["device_slow_down"]:
                d["interval"] += 5
                return self._json(400, {"error": "slow_down"})
            if st.ctl["device_result"] == "deny":
                return self._json(400, {"error": "access_denied"})
            del st.devices[p["device_code"]]
        # mint through oauthlib, as the other grants do
        req = Request(self._uri(), "POST", "", {})
        req.client_id = cid
        req.client = Client(cid)
        req.user = USER
        req.scopes = d["scopes"]
        req.refresh_token = None
        tok = self.server.bearer.create_token(req, refresh_token=True)
        self.server.validator.save_token(tok, req)
        self._json(200, dict(tok), chunked=chunked)

    def token(self, body, chunked):
        st = self.server.st
        st.stats["token"] += 1
        p = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
        gt = p.get("grant_type", "")
        with st.lock:
            st.stats["grants"][gt] = st.stats["grants"].get(gt, 0) + 1
            if gt == "refresh_token":
                st.stats["refresh"] += 1
        if gt == DEVICE_GRANT:
            return self.device_poll(p, chunked)
        h, b, s = self.server.oauth.create_token_response(
            self._uri(), "POST", body, dict(self.headers))
        self._send(s, b or "", headers=h, chunked=chunked)


class TLSServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def finish_request(self, request, client_address):
        """TLS handshake in the request's own thread, so a silent client
        never holds up the others."""
        request.settimeout(30)
        try:
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass


def serve(opts):
    st = State(opts)
    srv = TLSServer(("127.0.0.1", 0), Handler)
    srv.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    srv.ctx.load_cert_chain(opts.cert, opts.key)
    srv.st = st
    srv.oauth, srv.validator = make_server(st)
    srv.bearer = BearerToken(srv.validator,
                             expires_in=lambda req: st.ctl["access_ttl"])
    tmp = opts.portfile + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_port)
    os.rename(tmp, opts.portfile)
    sys.stderr.write("listening on 127.0.0.1:%d\n" % srv.server_port)
    srv.serve_forever()


def client_conn(opts):
    ctx = ssl.create_default_context(cafile=opts.ca)
    return http.client.HTTPSConnection("127.0.0.1", opts.port, context=ctx,
                                       timeout=30)


def ctl(opts):
    req = {}
    for kv in opts.settings:
        k, _, v = kv.partition("=")
        try:
            req[k] = json.loads(v)
        except ValueError:
            req[k] = v
    c = client_conn(opts)
    c.request("POST", "/control", json.dumps(req),
              {"Content-Type": "application/json"})
    r = c.getresponse()
    body = r.read().decode()
    if r.status != 200:
        sys.exit("ctl: %d %s" % (r.status, body))


def stats(opts):
    c = client_conn(opts)
    c.request("GET", "/stats")
    r = c.getresponse()
    s = json.loads(r.read().decode())
    print(json.dumps(s[opts.key] if opts.key else s))


def revoke(opts):
    form = {"token": opts.token, "client_id": "popfetch-test"}
    if opts.hint:
        form["token_type_hint"] = opts.hint
    c = client_conn(opts)
    c.request("POST", "/revoke", urllib.parse.urlencode(form),
              {"Content-Type": "application/x-www-form-urlencoded"})
    r = c.getresponse()
    r.read()
    print(r.status)
    if r.status != 200:
        sys.exit(1)


def get(opts):
    u = urllib.parse.urlparse(opts.url)
    if u.scheme == "https":
        ctx = ssl.create_default_context(cafile=opts.ca)
        c = http.client.HTTPSConnection(u.hostname, u.port, context=ctx,
                                        timeout=30)
    else:
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    c.request("GET", u.path + ("?" + u.query if u.query else ""))
    r = c.getresponse()
    print("%d %s" % (r.status, r.getheader("Location") or "-"))
    sys.stdout.write(r.read().decode("utf-8", "replace"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--cert", required=True)
    s.add_argument("--key", required=True)
    s.add_argument("--portfile", required=True)
    s.add_argument("--access-ttl", type=int, default=3600)
    s.add_argument("--refresh-stated-ttl", type=int, default=0)
    s.add_argument("--no-rotate", action="store_true")
    s.add_argument("--interval", type=int, default=1)
    s.add_argument("--device-pending", type=int, default=0)
    s.add_argument("--device-slow-down", type=int, default=0)
    for name in ("ctl", "stats", "revoke"):
        c = sub.add_parser(name)
        c.add_argument("--port", type=int, required=True)
        c.add_argument("--ca", required=True)
        if name == "ctl":
            c.add_argument("settings", nargs="*")
        elif name == "stats":
            c.add_argument("key", nargs="?")
        else:
            c.add_argument("token")
            c.add_argument("hint", nargs="?")
    g = sub.add_parser("get")
    g.add_argument("--ca", required=True)
    g.add_argument("url")
    opts = ap.parse_args()
    if opts.cmd == "serve":
        if Server is None:
            sys.exit("oauth_server.py: python3-oauthlib is not installed")
        serve(opts)
    else:
        {"ctl": ctl, "stats": stats, "get": get,
         "revoke": revoke}[opts.cmd](opts)


if __name__ == "__main__":
    main()
