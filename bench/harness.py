"""Shared pieces of the reliability scripts (faults.py, soak.py, restore_drill.py).

Standard library only. Everything runs on 127.0.0.1 in private processes the
scripts start and stop themselves: a PostgreSQL cluster made with the local
server binaries (never the machine's shared 5432 server), optionally a Redis,
and `tenantry serve`.
"""

import glob
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSWORD = "Bench-Passw0rd-2026!"
SECRET_KEY = "tenantry-reliability-secret-key-0123456789abcdef"
ADMIN_EMAIL = "bench-admin@bench.test"


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def binary():
    """The tenantry binary: TENANTRY_BIN, else the newest of the release and debug builds."""
    if os.environ.get("TENANTRY_BIN"):
        return os.environ["TENANTRY_BIN"]
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    found = [p for p in (f"{target}/release/tenantry", f"{target}/debug/tenantry") if os.path.exists(p)]
    if not found:
        sys.exit("no tenantry binary: build it (cargo build) or set TENANTRY_BIN")
    return max(found, key=os.path.getmtime)


def pg_bin(name):
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]))
    for d in reversed(dirs):
        if os.path.exists(f"{d}/{name}"):
            return f"{d}/{name}"
    path = shutil.which(name)
    if not path:
        sys.exit(f"no PostgreSQL program {name}")
    return path


def as_postgres(cmd):
    """initdb and pg_ctl refuse to run as root."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class Cluster:
    """A private PostgreSQL cluster in `folder` on a free port."""

    def __init__(self, folder):
        self.folder = os.path.abspath(folder)
        self.data = f"{self.folder}/data"
        self.port = free_port()
        self.started = False

    def init(self):
        if os.path.exists(self.folder):
            self.stop()
            shutil.rmtree(self.folder)
        os.makedirs(self.folder)
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        subprocess.run(as_postgres([pg_bin("initdb"), "-D", self.data, "-A", "trust", "-U", "postgres",
                                    "--no-locale", "-E", "UTF8"]), check=True, stdout=subprocess.DEVNULL)
        with open(f"{self.data}/postgresql.conf", "a") as f:
            f.write("\nfsync = on\nmax_connections = 200\nshared_buffers = 128MB\n")
        return self

    def pg_ctl(self, *args, check=True):
        opts = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder}"
        return subprocess.run(as_postgres([pg_bin("pg_ctl"), "-D", self.data, "-o", opts, "-l",
                                           f"{self.folder}/postgres.log", *args]),
                              check=check, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start(self):
        self.pg_ctl("-w", "start")
        self.started = True
        return self

    def stop(self, mode="fast"):
        if os.path.exists(f"{self.data}/postmaster.pid"):
            self.pg_ctl("-w", "stop", "-m", mode, check=False)
        self.started = False

    def url(self, db="postgres"):
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"

    def psql(self, sql, db="postgres"):
        out = subprocess.run(["psql", self.url(db), "-v", "ON_ERROR_STOP=1", "-qAtX", "-c", sql],
                             check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def rows(self, sql, db="postgres"):
        text = self.psql(sql, db)
        return [line.split("|") for line in text.splitlines() if line]


def prepare_database(cluster, db, tenants, projects, users, documents=0, env=None):
    """Creates `db`, migrates it and seeds a bench data set (bench/seed.sh):
    tenant k is bench-0000k, user i of tenant k is u<i>@t<k>.bench.test, password PASSWORD."""
    cluster.psql(f"DROP DATABASE IF EXISTS {db}")
    cluster.psql(f"CREATE DATABASE {db}")
    url = cluster.url(db)
    run_env = server_env(url, env)
    subprocess.run([binary(), "migrate"], env=run_env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([binary(), "create-super-admin", "--email", ADMIN_EMAIL],
                   env={**run_env, "SUPER_ADMIN_PASSWORD": PASSWORD}, check=True, stdout=subprocess.DEVNULL)
    hash_ = cluster.psql(f"SELECT password_hash FROM users WHERE email = '{ADMIN_EMAIL}'", db)
    subprocess.run([f"{ROOT}/bench/seed.sh", url, str(tenants), str(projects), str(users), str(documents), hash_],
                   check=True, stdout=subprocess.DEVNULL)
    return url


def server_env(database_url, extra=None, workdir=None):
    env = {
        "PATH": os.environ.get("PATH", ""),
        "ENVIRONMENT": "development",
        "SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": database_url,
        "LOG_FORMAT": "json",
        "EMAIL_PROVIDER": "log",
        "RATE_LIMIT_LOGIN_PER_MINUTE": "1000000000",
        "RATE_LIMIT_ACCOUNT_PER_MINUTE": "1000000000",
        "RATE_LIMIT_API_PER_MINUTE": "1000000000",
        "RATE_LIMIT_TENANT_PER_MINUTE": "1000000000",
        "ACCESS_TOKEN_EXPIRE_MINUTES": "240",
        "FRONTEND_URL": "http://app.bench.test",
    }
    if workdir:
        env["TENANTRY_DATA_DIR"] = workdir
        env["STORAGE_PATH"] = f"{workdir}/storage"
    env.update(extra or {})
    return env


class Server:
    """`tenantry serve` on a free port, its output in `folder`/server.log."""

    def __init__(self, folder, database_url, extra=None, port=None):
        self.folder = os.path.abspath(folder)
        os.makedirs(self.folder, exist_ok=True)
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = server_env(database_url, {"BIND_ADDR": f"127.0.0.1:{self.port}",
                                             "BASE_URL": f"http://127.0.0.1:{self.port}", **(extra or {})},
                              workdir=self.folder)
        self.proc = None

    def start(self, wait="/ready", timeout=60):
        logf = open(f"{self.folder}/server.log", "ab")
        self.proc = subprocess.Popen([binary(), "serve", "--no-migrate"], env=self.env, cwd=self.folder,
                                     stdout=logf, stderr=logf, stdin=subprocess.DEVNULL)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"server exited ({self.proc.returncode}); see {self.folder}/server.log")
            try:
                if request(self.port, "GET", wait)[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        sys.exit(f"server not ready after {timeout}s; see {self.folder}/server.log")

    @property
    def pid(self):
        return self.proc.pid

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=60)

    def stop(self):
        self.kill(signal.SIGTERM)

    def rss_kb(self):
        return proc_status(self.pid, "VmRSS")

    def fds(self):
        try:
            return len(os.listdir(f"/proc/{self.pid}/fd"))
        except OSError:
            return None


def proc_status(pid, key):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None


class Client:
    """One keep-alive HTTP/1.1 connection (reconnects when the server closes it)."""

    def __init__(self, port, timeout=30):
        self.port, self.timeout, self.conn = port, timeout, None

    def call(self, method, path, body=None, token=None, headers=None, raw=None):
        hdrs = dict(headers or {})
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=data, headers=hdrs)
                res = self.conn.getresponse()
                payload = res.read()
                if res.getheader("Connection", "").lower() == "close":
                    self.close()
                try:
                    parsed = json.loads(payload) if payload else None
                except ValueError:
                    parsed = payload.decode(errors="replace")
                return res.status, parsed
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # A kept-alive connection the server had closed: retry once on a new one.
                self.close()
                if attempt:
                    raise

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None


def request(port, method, path, body=None, token=None, timeout=30):
    c = Client(port, timeout)
    try:
        return c.call(method, path, body, token)
    finally:
        c.close()


def bench_user(k, i=1):
    """(email, tenant slug) of user i of bench tenant k (i = 1 is the tenant admin)."""
    return f"u{i}@t{k}.bench.test", f"bench-{k:05d}"


def login(port, email, slug, client=None):
    c = client or Client(port)
    status, body = c.call("POST", "/api/v1/auth/login",
                          {"email": email, "password": PASSWORD, "tenant_slug": slug})
    if status != 200:
        raise RuntimeError(f"login {email}: {status} {body}")
    return body


def percentile(values, q):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def marker():
    return uuid.uuid4().hex[:8]
