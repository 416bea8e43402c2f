#!/usr/bin/env python3
"""Count the requests one client made, from a kube-apiserver JSON audit log.

    apply-audit.py AUDIT_LOG FROM_LINE TO_LINE USER_AGENT_PREFIX

Reads lines FROM_LINE+1 .. TO_LINE (the lines a command added) and counts the
events with stage ResponseComplete whose userAgent starts with the prefix.
A write is verb create, update, patch, delete or deletecollection, without
`dryRun=` in the request URI. Watches also have a ResponseStarted event; they
are counted once, by their ResponseComplete (or ResponseStarted if the watch
was still open).

Prints one line of key=value pairs: writes, requests (every request, any
verb, dry runs included), dry_runs, then one count per verb (dry-run writes
as <verb>_dryrun), then writes_by=<verb>:<resource>:<namespace>/<name>,...
(the first 20) so that an unexpected write can be traced.
"""

import json
import sys
from collections import Counter

WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}


def main():
    path, start, end, prefix = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    seen = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            if n <= start:
                continue
            if n > end:
                break
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if not str(ev.get("userAgent", "")).startswith(prefix):
                continue
            stage = ev.get("stage")
            if stage not in ("ResponseComplete", "ResponseStarted"):
                continue
            aid = ev.get("auditID")
            if stage == "ResponseStarted" and aid in seen:
                continue
            seen[aid] = ev
    verbs = Counter()
    writes = []
    dry = 0
    for ev in seen.values():
        verb = ev.get("verb", "")
        uri = ev.get("requestURI", "")
        is_dry = "dryRun=" in uri
        if verb in WRITE_VERBS and is_dry:
            dry += 1
            verbs[verb + "_dryrun"] += 1
            continue
        verbs[verb] += 1
        if verb in WRITE_VERBS and ev.get("stage") == "ResponseComplete":
            ref = ev.get("objectRef") or {}
            writes.append(
                f"{verb}:{ref.get('resource', '?')}:{ref.get('namespace', '')}/{ref.get('name', '')}"
            )
    parts = [f"writes={len(writes)}", f"requests={len(seen)}", f"dry_runs={dry}"]
    parts += [f"{v}={c}" for v, c in sorted(verbs.items())]
    parts.append("writes_by=" + ",".join(writes[:20]))
    print(" ".join(parts))


if __name__ == "__main__":
    main()
