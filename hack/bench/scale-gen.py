#!/usr/bin/env python3
"""Generates the platform hack/bench-scale.sh installs: many small releases
on a deep random dependency graph.

    python3 hack/bench/scale-gen.py --releases 1000 --levels 12 --seed 1 --out DIR

DIR receives platform.yaml, bundles/scale.yaml and one package,
packages/svc/1.0.0, whose every release renders exactly 10 objects: a
Deployment (one replica, Ready through kwok's fake nodes), a Service, a
ServiceAccount, five ConfigMaps and two Secrets. Release i sits on a level
of the graph drawn from the seed (every level has releases, so the graph is
exactly --levels deep); each release above level 0 depends on one release
of the level right below and on up to two more of any lower level.

`--change N` rewrites the values of release N only (its ConfigMaps' data),
for the "one changed release" step.

Standard library only; the output is the same for the same arguments.
"""

import argparse
import os
import random
import sys

OBJECTS_PER_RELEASE = 10
NAMESPACES = 50

PACKAGE = """\
name: svc
version: 1.0.0
appVersion: v1.0.0
description: A small service, for the scale benchmark.
"""

VALUES = """\
replicas: 1
image: registry.k8s.io/pause:3.10
settings: {}
"""

TEMPLATE = """\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ release.name }}
---
{%- for i in range(end=5) %}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ release.name }}-config-{{ i }}
data:
  index: "{{ i }}"
{%- for k, v in values.settings %}
  {{ k }}: {{ v | quote }}
{%- endfor %}
---
{%- endfor %}
{%- for i in range(end=2) %}
apiVersion: v1
kind: Secret
metadata:
  name: {{ release.name }}-secret-{{ i }}
type: Opaque
data:
  token: {{ (release.name ~ "-" ~ i) | sha256sum | b64enc }}
---
{%- endfor %}
apiVersion: v1
kind: Service
metadata:
  name: {{ release.name }}
spec:
  selector: {app: {{ release.name }}}
  ports:
    - {name: http, port: 80, targetPort: 8080}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ release.name }}
spec:
  replicas: {{ values.replicas }}
  selector:
    matchLabels: {app: {{ release.name }}}
  template:
    metadata:
      labels: {app: {{ release.name }}}
    spec:
      serviceAccountName: {{ release.name }}
      containers:
        - name: main
          image: {{ values.image }}
          ports:
            - {containerPort: 8080}
"""


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def graph(releases, levels, rng):
    """Level of every release and its dependencies (indexes)."""
    # Every level gets at least one release; the rest are spread at random.
    level_of = list(range(levels)) + [rng.randrange(levels) for _ in range(releases - levels)]
    rng.shuffle(level_of)
    # Release 0 is a root, so that the platform has a clear first release.
    first_root = level_of.index(0)
    level_of[0], level_of[first_root] = level_of[first_root], level_of[0]
    by_level = {}
    for i, lv in enumerate(level_of):
        by_level.setdefault(lv, []).append(i)
    deps = []
    for i, lv in enumerate(level_of):
        if lv == 0:
            deps.append([])
            continue
        mine = {rng.choice(by_level[lv - 1])}
        lower = [j for l in range(lv) for j in by_level[l]]
        for _ in range(rng.randrange(3)):
            mine.add(rng.choice(lower))
        deps.append(sorted(mine))
    return level_of, deps


def name(i):
    return f"svc-{i:04d}"


def generate(out, releases, levels, seed, change):
    rng = random.Random(seed)
    level_of, deps = graph(releases, levels, rng)
    pkg = os.path.join(out, "packages", "svc", "1.0.0")
    write(os.path.join(pkg, "package.yaml"), PACKAGE)
    write(os.path.join(pkg, "values.yaml"), VALUES)
    write(os.path.join(pkg, "templates", "all.yaml"), TEMPLATE)
    lines = [f"description: {releases} releases x {OBJECTS_PER_RELEASE} objects, {levels} levels",
             "releases:"]
    for i in range(releases):
        lines.append(f"  - name: {name(i)}")
        lines.append("    package: svc")
        lines.append('    version: "1.0.0"')
        lines.append(f"    namespace: scale-{i % NAMESPACES:02d}")
        if deps[i]:
            lines.append("    dependsOn: [" + ", ".join(name(j) for j in deps[i]) + "]")
        shard = f"changed-{seed}" if i == change else "initial"
        lines.append(f"    values: {{settings: {{level: \"{level_of[i]}\", shard: \"{shard}\"}}}}")
    write(os.path.join(out, "bundles", "scale.yaml"), "\n".join(lines) + "\n")
    write(os.path.join(out, "platform.yaml"), "name: scale\nbundle: scale\nkubeVersion: v1.34.4\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--releases", type=int, default=1000)
    ap.add_argument("--levels", type=int, default=12)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--change", type=int, default=-1,
                    help="release index whose values differ (for the upgrade step)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    if args.levels < 1 or args.releases < args.levels:
        ap.error("need --levels >= 1 and --releases >= --levels")
    generate(args.out, args.releases, args.levels, args.seed, args.change)
    print(f"generated {args.releases} releases x {OBJECTS_PER_RELEASE} objects, "
          f"{args.levels} levels, in {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
