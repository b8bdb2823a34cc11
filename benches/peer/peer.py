"""Side-by-side: avatar-console's `reset` against pydiscourse 1.7.0 (a peer client nobody here
wrote) on the same `avatar-console sandbox`, the cases of issue 14's table. Not part of CI.

Run through `benches/peer/run.sh`, which makes the virtualenv. Each case gets fresh users (a
reset user is not reset twice), a cleared request record and rate-limit window, and the server
limit and download delay it names (set over the sandbox's `/sandbox/...` control routes).

The peer does what a script written with pydiscourse naturally does:
- sync-sso: `user_by_external_id` (the username), `user_emails` (the email sync_sso needs),
  `sync_sso` with `default_avatar_url` and `avatar_force_update`; the "poll check" variant then
  re-reads `user()` every 0.2 s until `uploaded_avatar_id` changes (at most 30 s);
- pick: `pick_avatar(type=system)` by username; the check re-reads `user()` once.
pydiscourse retries a 429 after the `wait_seconds` the server gives, as it does by itself.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request

from pydiscourse import DiscourseClient


def http(method, url):
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


class Sandbox:
    def __init__(self, binary, flagged):
        self.dir = tempfile.mkdtemp(prefix="ac-peer-")
        env = dict(os.environ, AVATAR_CONSOLE_DATA_DIR=self.dir)
        self.proc = subprocess.Popen(
            [binary, "sandbox", "--flagged", str(flagged)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
        )
        self.config = None
        for line in self.proc.stdout:
            if line.startswith("sandbox listening on "):
                self.url = line.split()[-1].strip()
            if line.startswith("config written to "):
                self.config = line[len("config written to "):].strip()
                break
        if not self.config:
            raise SystemExit("the sandbox did not start")
        with open(self.config, "rb") as f:
            self.cfg = tomllib.load(f)
        # The console paces itself to `requests_per_minute` (Discourse's default, 60): with no
        # server limit it is told so, as an operator would, through a config of its own.
        with open(self.config) as f:
            text = f.read()
        self.unlimited_config = os.path.join(self.dir, "unlimited.toml")
        with open(self.unlimited_config, "w") as f:
            f.write(text.replace("requests_per_minute = 60", "requests_per_minute = 100000"))
        os.chmod(self.unlimited_config, 0o600)
        users = http("GET", f"{self.url}/sandbox/state?all=1")["users"]
        # Users a reset can act on and that show it: active, an SSO record, a custom avatar.
        self.pool = [
            u for u in users
            if u["active"] and u["sso"] and u["uploaded_avatar_id"] and not u["admin"]
            and not u["moderator"]
        ]

    def take(self, n):
        if len(self.pool) < n:
            raise SystemExit("not enough fresh users: raise --flagged")
        out, self.pool = self.pool[:n], self.pool[n:]
        return out

    def control(self, path):
        return http("POST", f"{self.url}/sandbox/{path}")

    def prepare(self, per_minute, delay_ms, overrides_avatar, fast=False):
        self.control(f"admin_rate_limit?per_minute={per_minute}")
        self.control(f"download_delay?ms={delay_ms}")
        on = lambda b: "true" if b else "false"
        self.control(f"settings/discourse_connect_overrides_avatar?value={on(overrides_avatar)}")
        # The sandbox's defaults override email and groups, which rules the console's fast
        # path out (it must read each user first); `fast` cases turn both off, as many sites run.
        self.control(f"settings/auth_overrides_email?value={on(not fast)}")
        self.control(f"settings/discourse_connect_overrides_groups?value={on(not fast)}")
        self.control("clear")

    def counts(self):
        reqs = http("GET", f"{self.url}/sandbox/requests")
        viol = http("GET", f"{self.url}/sandbox/violations")
        # The main app's flagged list is not part of a reset.
        return len([r for r in reqs if not r["path"].startswith("/app/")]), len(viol)

    def avatar(self, username):
        return http("GET", f"{self.url}/sandbox/users/{username}")["uploaded_avatar_id"]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def console(sb, binary, users, strategy, per_minute):
    targets = [
        f"external:{u['sso']['external_id']}" if strategy == "sync-sso" else u["username"]
        for u in users
    ]
    env = dict(os.environ, AVATAR_CONSOLE_DATA_DIR=sb.dir)
    t = time.monotonic()
    p = subprocess.run(
        [binary, "--config", sb.config if per_minute else sb.unlimited_config,
         "reset", "--yes", "--json", "--strategy", strategy]
        + targets,
        capture_output=True,
        text=True,
        env=env,
    )
    took = time.monotonic() - t
    try:
        rows = json.loads(p.stdout)
    except json.JSONDecodeError:
        raise SystemExit(f"reset printed no JSON (exit {p.returncode}): {p.stderr[-2000:]}")
    verified = sum(1 for r in rows if r["outcome"] == "verified")
    return took, verified


def peer(sb, users, strategy, check):
    d = sb.cfg["discourse"]
    client = DiscourseClient(d["url"], api_username=d["api_username"], api_key=d["api_key"])
    before = {u["username"]: u["uploaded_avatar_id"] for u in users}
    t = time.monotonic()
    verified = 0
    for u in users:
        if strategy == "sync-sso":
            ext = u["sso"]["external_id"]
            name = client.user_by_external_id(ext)["username"]
            email = client.user_emails(name)["email"]
            client.sync_sso(
                sso_secret=d["sso_secret"],
                external_id=ext,
                email=email,
                avatar_url=d["default_avatar_url"],
                avatar_force_update="true",
            )
            if check:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    if client.user(name).get("uploaded_avatar_id") != before[name]:
                        verified += 1
                        break
                    time.sleep(0.2)
        else:
            name = u["username"]
            client.pick_avatar(name, type="system")
            if check and client.user(name).get("uploaded_avatar_id") != before[name]:
                verified += 1
    took = time.monotonic() - t
    if not check:
        # What the server ends up with, read outside the timing (the peer never looked).
        time.sleep(1.5)
        verified = sum(1 for u in users if sb.avatar(u["username"]) != before[u["username"]])
    return took, verified


def run_case(sb, binary, who, n, strategy, per_minute, delay_ms, fast):
    sb.prepare(per_minute, delay_ms, overrides_avatar=(strategy == "sync-sso"), fast=fast)
    users = sb.take(n)
    if who == "console":
        took, verified = console(sb, binary, users, strategy, per_minute)
    else:
        took, verified = peer(sb, users, strategy, check=(who == "peer+check"))
    reqs, violations = sb.counts()
    return {"took": took, "verified": verified, "requests": reqs, "violations": violations, "n": n}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--flagged", type=int, default=1200)
    ap.add_argument("--skip-120", action="store_true", help="leave out the 120-user cases (~12 min)")
    args = ap.parse_args()
    sb = Sandbox(args.bin, args.flagged)
    who_all = ["console", "peer", "peer+check"]
    fast = "email+groups not overridden"
    cases = [
        ("30 sync-sso at 60/min", 30, "sync-sso", 60, 1000, who_all, False),
        (f"30 sync-sso at 60/min, {fast}", 30, "sync-sso", 60, 1000, who_all, True),
        ("120 sync-sso at 60/min", 120, "sync-sso", 60, 1000, ["console", "peer+check"], False),
        (f"120 sync-sso at 60/min, {fast}", 120, "sync-sso", 60, 1000, ["console"], True),
        ("30 sync-sso, no limit, download after 0.2 s", 30, "sync-sso", 0, 200, who_all, False),
        ("30 pick, no limit", 30, "pick", 0, 200, who_all, False),
    ]
    if args.skip_120:
        cases = [c for c in cases if c[1] != 120]
    results = {}
    try:
        for name, n, strategy, rpm, delay, whos, is_fast in cases:
            for who in whos:
                r = run_case(sb, args.bin, who, n, strategy, rpm, delay, is_fast)
                results[(name, who)] = r
                print(
                    f"  {name:<46} {who:<11} {r['took']:7.2f} s  {r['verified']:>3}/{n} verified"
                    f"  {r['requests'] / n:5.2f} req/reset  {r['violations']} rules broken",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        sb.stop()

    def cell(name, who, what):
        r = results.get((name, who))
        if r is None:
            return "–"
        if what == "req":
            s = f"{r['requests'] / r['n']:.2f}"
        else:
            s = f"{r['took']:.2f} s"
        notes = []
        if r["verified"] < r["n"]:
            notes.append(f"{r['verified']} verified")
        if r["violations"]:
            notes.append(f"{r['violations']} rules broken")
        return s + (f" ({', '.join(notes)})" if notes else "")

    rows = [
        ("requests per reset, 30 sync-sso", "30 sync-sso at 60/min", "req"),
        (f"requests per reset, 30 sync-sso, {fast}", f"30 sync-sso at 60/min, {fast}", "req"),
        ("30 verified at 60 requests/min", "30 sync-sso at 60/min", "time"),
        (f"30 verified at 60 requests/min, {fast}", f"30 sync-sso at 60/min, {fast}", "time"),
        ("120 verified at 60/min", "120 sync-sso at 60/min", "time"),
        (f"120 verified at 60/min, {fast}", f"120 sync-sso at 60/min, {fast}", "time"),
        ("30 sync-sso, no server limit, download lands after 0.2 s",
         "30 sync-sso, no limit, download after 0.2 s", "time"),
        ("30 pick, no server limit", "30 pick, no limit", "time"),
    ]
    print("| figure | avatar-console | pydiscourse, unverified | pydiscourse + a poll check "
          "| console ÷ peer+check |")
    print("|---|---|---|---|---|")
    for label, name, what in rows:
        c, p = results.get((name, "console")), results.get((name, "peer+check"))
        ratio = "–"
        if c and p:
            a, b = ((c["requests"], p["requests"]) if what == "req" else (c["took"], p["took"]))
            ratio = f"{a / b:.2f}" if b else "–"
        print(f"| {label} | {cell(name, 'console', what)} | {cell(name, 'peer', what)} "
              f"| {cell(name, 'peer+check', what)} | {ratio} |")


if __name__ == "__main__":
    main()
