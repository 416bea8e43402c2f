#!/usr/bin/env python3
"""Dependency gating latency of a cold install, from a kube-apiserver JSON
audit log.

    controller-gating.py AUDIT_LOG RELEASES_JSON USER_AGENT_PREFIX

RELEASES_JSON is `kubectl get releases -A -o json` after the install. For
every release with dependencies, the gate opens when the last of its
dependencies got its final status write (the Ready one: the last patch of
`releases/<dep>/status` by the client) and the release's own work starts at
its first write (`releases/<name>`, its spec). The latency is the time
between the two, from the audit timestamps (microseconds).

Prints one line of key=value pairs: gates (releases with dependencies),
median_ms, max_ms, then per=<release>:<ms>,...
"""

import json
import sys
from datetime import datetime


def ts(text):
    # 2026-12-01T20:31:02.123456Z
    return datetime.strptime(text.rstrip("Z")[:26], "%Y-%m-%dT%H:%M:%S.%f").timestamp()


def main():
    path, releases_path, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(releases_path, encoding="utf-8") as f:
        releases = json.load(f)["items"]
    last_status = {}
    first_write = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("stage") != "ResponseComplete":
                continue
            if not str(ev.get("userAgent", "")).startswith(prefix):
                continue
            if ev.get("verb") not in ("create", "update", "patch"):
                continue
            if "dryRun=" in ev.get("requestURI", ""):
                continue
            ref = ev.get("objectRef") or {}
            if ref.get("resource") != "releases":
                continue
            key = (ref.get("namespace", ""), ref.get("name", ""))
            if ref.get("subresource") == "status":
                last_status[key] = ts(ev["stageTimestamp"])
            elif key not in first_write:
                first_write[key] = ts(ev["requestReceivedTimestamp"])
    per = []
    for r in releases:
        key = (r["metadata"]["namespace"], r["metadata"]["name"])
        deps = [(d["namespace"], d["name"]) for d in r["spec"].get("dependsOn", [])]
        if not deps or key not in first_write:
            continue
        opened = max(last_status.get(d, 0.0) for d in deps)
        if opened == 0.0:
            continue
        per.append((key[1], (first_write[key] - opened) * 1000.0))
    if not per:
        print("gates=0")
        return
    values = sorted(ms for _, ms in per)
    median = values[len(values) // 2]
    print(
        f"gates={len(per)} median_ms={median:.0f} max_ms={values[-1]:.0f} per="
        + ",".join(f"{n}:{ms:.0f}" for n, ms in per)
    )


if __name__ == "__main__":
    main()
