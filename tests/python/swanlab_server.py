"""A stand-in for the SwanLab cloud service on 127.0.0.1, answering the calls SwanLab's SDK (0.10.3) makes in
cloud mode, so that ztune's `--swanlab_mode cloud` is tested without a request leaving the machine:

  POST /api/login/api_key                      the key in the `authorization` header; a wrong key gets 401
  GET  /api/project/{user}/{project}           404 until created by POST /api/projects/{user}
  POST /api/project/{user}/{project}/experiment   the run (201)
  PUT  /api/project/{user}/{project}/runs/{id}/profile | /state   config, metadata; the final state
  POST /api/projects/{user}/{project}/series   the columns
  POST /api/house/metrics                      scalars ({"type": "scalar", "metrics": [{key, index, data}]}), logs
  POST /api/house/experiments/{id}/heartbeat

Every other path answers 200 with {} (and is recorded). Calls after login must carry the session cookie.
`stall_uploads` makes metric uploads hang (a service that stopped answering), to show that training does not
wait. Use it as a context manager: `with SwanLabServer(token) as server: ... server.scalars ...`."""
import json
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

SESSION = "zt-test-session"


class SwanLabServer:
    def __init__(self, token, user="ztune-test", stall_uploads=False):
        self.token, self.user, self.stall_uploads = token, user, stall_uploads
        self.lock = threading.Lock()
        self.projects, self.experiments = {}, {}
        self.scalars, self.states, self.configs, self.requests = [], [], [], []
        self.rejected_logins = 0
        self.release = threading.Event()  # ends stalled uploads when the server stops
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def answer(self, code, body=None):
                data = json.dumps({} if body is None else body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                try:
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the SDK gave up on a stalled upload
                    pass

            def handle_any(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else {}
                path = urlsplit(self.path).path.rstrip("/")
                with server.lock:
                    server.requests.append((self.command, path))
                code, reply = server.route(self.command, path, body, self.headers)
                self.answer(code, reply)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.http.server_port}"

    def route(self, method, path, body, headers):
        parts = path.split("/")  # ['', 'api', ...]
        if method == "POST" and path == "/api/login/api_key":
            if headers.get("authorization") != self.token:
                with self.lock:
                    self.rejected_logins += 1
                return 401, {"code": "UNAUTHORIZED", "message": "wrong API key"}
            expires = (datetime.now(timezone.utc) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            return 200, {"sid": SESSION, "expiredAt": expires, "userInfo": {"username": self.user}}
        if f"sid={SESSION}" not in (headers.get("Cookie") or ""):
            return 401, {"code": "UNAUTHORIZED", "message": "no session"}
        with self.lock:
            if method == "GET" and len(parts) == 5 and parts[2] == "project":
                project = self.projects.get((parts[3], parts[4]))
                return (200, project) if project else (404, {"code": "NOT_FOUND", "message": "no project"})
            if method == "POST" and len(parts) == 4 and parts[2] == "projects":
                owner, name = parts[3], body["name"]
                self.projects.setdefault((owner, name), {
                    "cuid": f"project-{len(self.projects) + 1}", "name": name, "path": f"/{owner}/{name}",
                    "visibility": body.get("visibility", "PRIVATE"), "group": {"username": owner}, "version": 1,
                    "_count": {"experiments": 0, "contributors": 1, "collaborators": 0, "clones": 0}})
                return 201, {}
            if method == "POST" and len(parts) == 6 and parts[2] == "project" and parts[5] == "experiment":
                project = self.projects.get((parts[3], parts[4]))
                if project is None:
                    return 404, {"code": "NOT_FOUND", "message": "no project"}
                cuid = f"run-{len(self.experiments) + 1}"
                self.experiments[cuid] = {"project": f"{parts[3]}/{parts[4]}", "name": body.get("name")}
                return 201, {"cuid": cuid, "slug": body.get("cuid") or cuid, "name": body.get("name")}
            if method == "PUT" and len(parts) == 8 and parts[5] == "runs" and parts[7] == "profile":
                if "config" in body:
                    self.configs.append(body["config"])
                return 200, {}
            if method == "PUT" and len(parts) == 8 and parts[5] == "runs" and parts[7] == "state":
                self.states.append(body.get("state"))
                return 200, {}
        if method == "POST" and path == "/api/house/metrics":
            if self.stall_uploads:
                self.release.wait()
                return 503, {"code": "UNAVAILABLE", "message": "stalled"}
            if body.get("type") == "scalar":
                with self.lock:
                    self.scalars.extend(body.get("metrics", []))
            return 200, {}
        return 200, {}

    def __enter__(self):
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.http.shutdown()
        self.http.server_close()
        time.sleep(0.1)
