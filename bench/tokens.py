#!/usr/bin/env python3
"""Access tokens for the load scripts, for users spread over many tenants.

Writes BENCH_TOKENS lines "token<TAB>tenant-no<TAB>project-id,..." (projects of
that token's tenant, so get-by-id answers 200) and, with --logins, the
"email<TAB>password" lines the login flood rotates over.

Tokens come from the real POST /api/v1/auth/login (--mode login). While that
endpoint does not exist yet, --mode mint (or auto, on a 404) inserts sessions
with psql and signs the JWTs itself with the server's SECRET_KEY (HS256), so the
other scenarios can still be exercised; the report says which mode was used.
Standard library only. Ids follow bench/seed.sh.
"""

import argparse
import base64
import concurrent.futures as cf
import hashlib
import hmac
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid


def md5_uuid(text: str) -> str:
    return str(uuid.UUID(hashlib.md5(text.encode()).hexdigest()))


def creator_users(users_per_tenant: int) -> list[int]:
    """Users whose system role can list, read and create projects (not viewer)."""
    return [i for i in range(1, users_per_tenant + 1) if (i - 1) % 4 != 3] or [1]


def picks(args) -> list[tuple[int, int]]:
    """(tenant, user) pairs spread evenly over the tenants."""
    users = creator_users(args.users_per_tenant)
    out = []
    for i in range(args.count):
        k = 1 + (i * args.tenants) // args.count if args.count <= args.tenants else 1 + i % args.tenants
        u = users[(k + i // args.tenants) % len(users)]
        out.append((k, u))
    return sorted(set(out))


def email(k: int, u: int) -> str:
    return f"u{u}@t{k}.bench.test"


def projects(k: int, per_tenant: int, n: int = 8) -> str:
    js = sorted({1 + (m * per_tenant) // n for m in range(n)})
    return ",".join(md5_uuid(f"bench-project-{k}-{j}") for j in js)


def login(base: str, mail: str, password: str) -> tuple[int, str | None]:
    body = json.dumps({"email": mail, "password": password}).encode()
    req = urllib.request.Request(f"{base}/api/v1/auth/login", data=body,
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.load(resp).get("access_token")
    except urllib.error.HTTPError as e:
        return e.code, None


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(args, pairs: list[tuple[int, int]]) -> list[str]:
    """Sessions inserted directly, JWTs signed like src/auth/jwt.rs does."""
    now = int(time.time())
    rows, tokens = [], []
    for k, u in pairs:
        tid, uid, sid = md5_uuid(f"bench-tenant-{k}"), md5_uuid(f"bench-user-{k}-{u}"), str(uuid.uuid4())
        rows.append(f"('{tid}','{sid}','{uid}',now() + interval '1 day')")
        header = b64(json.dumps({"typ": "JWT", "alg": "HS256"}).encode())
        claims = b64(json.dumps({"sub": uid, "tid": tid, "sid": sid, "iat": now, "exp": now + 86400,
                                 "iss": args.issuer, "aud": "tenantry-api"}).encode())
        sig = hmac.new(args.secret.encode(), f"{header}.{claims}".encode(), hashlib.sha256).digest()
        tokens.append(f"{header}.{claims}.{b64(sig)}")
    sql = ("INSERT INTO user_sessions (tenant_id, id, user_id, expires_at) VALUES "
           + ",".join(rows) + ";")
    subprocess.run(["psql", args.db, "-qAtX", "-v", "ON_ERROR_STOP=1"], input=sql, text=True, check=True)
    return tokens


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", required=True)
    p.add_argument("--tenants", type=int, required=True)
    p.add_argument("--projects-per-tenant", type=int, required=True)
    p.add_argument("--users-per-tenant", type=int, required=True)
    p.add_argument("--count", type=int, default=200)
    p.add_argument("--password", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--logins", help="also write credentials for the login flood here")
    p.add_argument("--login-accounts", type=int, default=2000)
    p.add_argument("--mode", choices=["auto", "login", "mint"], default="auto")
    p.add_argument("--db", help="database URL (mint mode)")
    p.add_argument("--secret", help="the server's SECRET_KEY (mint mode)")
    p.add_argument("--issuer", help="the server's BASE_URL (mint mode)")
    p.add_argument("--workers", type=int, default=4)
    args = p.parse_args()

    pairs = picks(args)
    mode = args.mode
    started = time.monotonic()
    tokens: list[str] = []
    if mode in ("auto", "login"):
        status, _ = login(args.base, email(*pairs[0]), args.password)
        if status == 404 and mode == "auto":
            print("  POST /api/v1/auth/login answers 404: minting tokens instead", file=sys.stderr)
            mode = "mint"
        else:
            mode = "login"
            with cf.ThreadPoolExecutor(args.workers) as pool:
                results = list(pool.map(lambda kv: login(args.base, email(*kv), args.password), pairs))
            bad = [(kv, s) for kv, (s, t) in zip(pairs, results) if not t]
            if bad:
                print(f"  {len(bad)} of {len(pairs)} logins failed, e.g. {email(*bad[0][0])}: HTTP {bad[0][1]}",
                      file=sys.stderr)
                return 1
            tokens = [t for _, t in results]
    if mode == "mint":
        if not (args.db and args.secret and args.issuer):
            print("  mint mode needs --db, --secret and --issuer", file=sys.stderr)
            return 1
        tokens = mint(args, pairs)

    with open(args.out, "w") as f:
        for (k, _), t in zip(pairs, tokens):
            f.write(f"{t}\t{k}\t{projects(k, args.projects_per_tenant)}\n")
    if args.logins:
        n = args.login_accounts
        with open(args.logins, "w") as f:
            for i in range(n):
                k = 1 + (i * args.tenants) // n if n <= args.tenants else 1 + i % args.tenants
                u = 1 + (i // args.tenants if n > args.tenants else i) % args.users_per_tenant
                f.write(f"{email(k, u)}\t{args.password}\n")
    took = time.monotonic() - started
    print(f"  {len(tokens)} tokens over {len({k for k, _ in pairs})} tenants via {mode} in {took:.1f} s")
    print(mode, file=open(args.out + ".mode", "w"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
