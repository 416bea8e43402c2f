#!/usr/bin/env python3
"""Generates a large synthetic distribution for benchmarking `distro render`.

    python3 hack/bench/gen.py --releases 200 --objects 40 --out DIR

DIR receives platform.yaml, bundles/bench.yaml and packages/<name>/<version>/.
Every release renders exactly --objects objects (ConfigMaps, Secrets,
Deployments, Services, Ingresses and custom Widgets, about 1-2 KB of YAML
each), through templates that use loops over values, components from
templates/_helpers.yaml and the Helm-like filters (to_yaml, nindent, quote,
b64enc, sha256sum, default, ...). Releases form a DAG of several levels and
each one has its own values, so no two outputs are alike.

Standard library only; output is deterministic for a given --seed.
"""

import argparse
import json
import os
import random
import sys

# ---------------------------------------------------------------------------
# Templates. They are Tera 2 templates (not Python format strings): every
# loop body starts with the newline after its opening tag and the closing
# tag strips the newline before it ({%- ... %}), so documents come out clean.
# ---------------------------------------------------------------------------

HELPERS = """\
{% component labels(release, package, part) %}app.kubernetes.io/name: {{ package.name }}
app.kubernetes.io/instance: {{ release.name }}
app.kubernetes.io/version: {{ package.version | quote }}
app.kubernetes.io/component: {{ part }}
app.kubernetes.io/part-of: {{ package.name }}-suite
helm.sh/chart: {{ package.name }}-{{ package.version }}{% endcomponent labels %}
{% component selector(release, part) %}app.kubernetes.io/instance: {{ release.name }}
app.kubernetes.io/component: {{ part }}{% endcomponent selector %}
"""

DEPLOYMENT = """\
{%- for i in range(end=values.counts.deployments) %}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ release.name }}-{{ i }}
  labels:{{ <labels release={release} package={package} part={"app-" ~ i} /> | nindent(width=4) }}
  annotations:
    checksum/config: {{ values.config | to_json | sha256sum }}
    example.dev/owner: {{ values.owner | quote }}
    example.dev/team: {{ release.namespace | quote }}
spec:
  replicas: {{ values.replicas + i % 3 }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:{{ <selector release={release} part={"app-" ~ i} /> | nindent(width=6) }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 25%
      maxUnavailable: 0
  template:
    metadata:
      labels:{{ <labels release={release} package={package} part={"app-" ~ i} /> | nindent(width=8) }}
      annotations:
        checksum/secret: {{ values.secrets | to_json | sha256sum }}
    spec:
      serviceAccountName: {{ values.serviceAccount | default(value="default") }}
      containers:
        - name: main
          image: "{{ values.image.repository }}:{{ values.image.tag | default(value=package.appVersion) }}"
          imagePullPolicy: IfNotPresent
          args:
{%- for a in values.args %}
            - {{ a | quote }}
{%- endfor %}
          env:
            - name: INSTANCE
              value: "{{ i }}"
            - name: CLUSTER_DOMAIN
              value: {{ platform.clusterDomain | quote }}
{%- for k, v in values.env %}
            - name: {{ k }}
              value: {{ v | quote }}
{%- endfor %}
          ports:
{%- for p in values.ports %}
            - name: {{ p.name }}
              containerPort: {{ p.port + 1000 }}
{%- endfor %}
          resources:{{ values.resources | to_yaml | nindent(width=12) }}
          readinessProbe:
            httpGet:
              path: /healthz
              port: {{ values.ports[0].name }}
            periodSeconds: 10
{%- endfor %}
"""

SERVICE = """\
{%- for i in range(end=values.counts.services) %}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ release.name }}-{{ i }}
  labels:{{ <labels release={release} package={package} part={"app-" ~ i} /> | nindent(width=4) }}
  annotations:
    example.dev/owner: {{ values.owner | quote }}
    example.dev/scrape: {{ (i % 2 == 0) | quote }}
    example.dev/description: {{ ("Service " ~ i ~ " of " ~ release.name ~ " in " ~ release.namespace) | quote }}
spec:
  type: ClusterIP
  selector:{{ <selector release={release} part={"app-" ~ i} /> | nindent(width=4) }}
  ports:
{%- for p in values.ports %}
    - name: {{ p.name }}
      port: {{ p.port }}
      targetPort: {{ p.port + 1000 }}
      protocol: TCP
{%- endfor %}
{%- endfor %}
"""

CONFIGMAP = """\
{%- for i in range(end=values.counts.configmaps) %}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ release.name }}-config-{{ i }}
  labels:{{ <labels release={release} package={package} part="config" /> | nindent(width=4) }}
  annotations:
    checksum/data: {{ ((values.config | to_json) ~ i) | sha256sum }}
data:
  instance: "{{ i }}"
{%- for k, v in values.config %}
  {{ k }}: {{ (v ~ "-" ~ i) | quote }}
{%- endfor %}
  settings.yaml: |{{ values.settings | to_yaml | nindent(width=4) }}
{%- endfor %}
"""

SECRET = """\
{%- for i in range(end=values.counts.secrets) %}
---
apiVersion: v1
kind: Secret
metadata:
  name: {{ release.name }}-secret-{{ i }}
  labels:{{ <labels release={release} package={package} part="secret" /> | nindent(width=4) }}
  annotations:
    checksum/data: {{ ((values.secrets | to_json) ~ i) | sha256sum }}
type: Opaque
data:
{%- for k, v in values.secrets %}
  {{ k }}: {{ (v ~ ":" ~ release.name ~ ":" ~ i) | b64enc }}
{%- endfor %}
  config.json: {{ values.settings | to_json | b64enc }}
{%- endfor %}
"""

INGRESS = """\
{%- for i in range(end=values.counts.ingresses) %}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ release.name }}-{{ i }}
  labels:{{ <labels release={release} package={package} part={"ingress-" ~ i} /> | nindent(width=4) }}
  annotations:
    example.dev/owner: {{ values.owner | quote }}
    example.dev/tls: "true"
spec:
  ingressClassName: {{ values.ingressClass | default(value="nginx") }}
  tls:
    - hosts:
        - {{ release.name }}-{{ i }}.{{ platform.clusterDomain }}
      secretName: {{ release.name }}-{{ i }}-tls
  rules:
    - host: {{ release.name }}-{{ i }}.{{ platform.clusterDomain }}
      http:
        paths:
{%- for p in values.paths %}
          - path: {{ p }}
            pathType: Prefix
            backend:
              service:
                name: {{ release.name }}-{{ i % values.counts.services }}
                port:
                  name: {{ values.ports[0].name }}
{%- endfor %}
{%- endfor %}
"""

WIDGET = """\
{%- if "example.dev/v1" in capabilities.apiVersions %}
{%- for i in range(end=values.counts.widgets) %}
---
apiVersion: example.dev/v1
kind: Widget
metadata:
  name: {{ release.name }}-widget-{{ i }}
  labels:{{ <labels release={release} package={package} part="widget" /> | nindent(width=4) }}
spec:
  size: {{ values.replicas * 2 + i }}
  kubeVersion: {{ capabilities.kubeVersion | quote }}
  owner: {{ values.owner | quote }}
  settings:{{ values.settings | to_yaml | nindent(width=4) }}
  tags:
{%- for k, v in values.env %}
    - {{ ((k | lower) ~ "=" ~ v) | quote }}
{%- endfor %}
{%- endfor %}
{%- endif %}
"""

CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.dev
spec:
  group: example.dev
  names:
    kind: Widget
    plural: widgets
    singular: widget
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
"""

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["counts", "image", "ports"],
    "properties": {
        "replicas": {"type": "integer", "minimum": 1},
        "owner": {"type": "string"},
        "counts": {
            "type": "object",
            "additionalProperties": {"type": "integer", "minimum": 0},
        },
        "image": {
            "type": "object",
            "properties": {
                "repository": {"type": "string"},
                "tag": {"type": "string"},
            },
        },
        "env": {"type": "object", "additionalProperties": {"type": "string"}},
        "config": {"type": "object", "additionalProperties": {"type": "string"}},
        "ports": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "port"],
                "properties": {
                    "name": {"type": "string"},
                    "port": {"type": "integer"},
                },
            },
        },
    },
}

# Which templates each package ships, and each kind's share of a release's
# objects.
KINDS = {
    "deployments": ("deployment.yaml", DEPLOYMENT, 3),
    "services": ("service.yaml", SERVICE, 2),
    "configmaps": ("configmap.yaml", CONFIGMAP, 2),
    "secrets": ("secret.yaml", SECRET, 1),
    "ingresses": ("ingress.yaml", INGRESS, 1),
    "widgets": ("widget.yaml", WIDGET, 1),
}

# name -> (versions, kinds, whether it ships the Widget CRD)
PACKAGES = {
    "base": (["1.0.0", "1.1.0"], ["configmaps", "secrets", "widgets"], True),
    "web": (["1.0.0", "1.1.0", "1.2.0", "2.0.0"],
            ["deployments", "services", "configmaps", "secrets", "ingresses", "widgets"], False),
    "worker": (["0.9.0", "1.0.0", "1.0.1"],
               ["deployments", "configmaps", "secrets", "widgets"], False),
    "gateway": (["3.1.0", "3.2.0", "3.3.0"],
                ["deployments", "services", "ingresses", "secrets"], False),
    "cache": (["5.0.0", "5.1.0"], ["deployments", "services", "configmaps", "secrets"], False),
}

# Requirements releases use, per package (all resolve to a version above).
REQUIREMENTS = {
    "web": ["^1.0", "~1.1.0", "1.2.0", "^2", ">=1.1, <2"],
    "worker": ["^1.0", "0.9.0", "~1.0.0"],
    "gateway": ["^3.1", "3.2.0", "~3.3"],
    "cache": ["^5", "5.0.0"],
}


def package_values(name, version):
    """values.yaml of a package version: defaults a release can override."""
    major = int(version.split(".")[0])
    return {
        "replicas": 1,
        "owner": "platform-team",
        "serviceAccount": "",
        "ingressClass": "",
        "image": {"repository": f"registry.example/{name}", "tag": ""},
        "args": ["--log-format=json", f"--profile={name}", "--metrics-addr=:9090"],
        "ports": [
            {"name": "http", "port": 8080},
            {"name": "metrics", "port": 9090},
        ] + ([{"name": "grpc", "port": 9443}] if major >= 2 else []),
        "paths": ["/", "/api", "/static"],
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
        "settings": {
            "logLevel": "info",
            "timeouts": {"read": "30s", "write": "30s", "idle": "120s"},
            "features": ["metrics", "tracing"],
        },
        "env": {},
        "config": {},
        "secrets": {},
        "counts": {},
    }


def split_counts(total, kinds):
    """Splits `total` objects among `kinds` by their weights, exactly."""
    weights = [KINDS[k][2] for k in kinds]
    whole = sum(weights)
    counts = {k: total * w // whole for k, w in zip(kinds, weights)}
    counts[kinds[0]] += total - sum(counts.values())
    # Ingresses point at services: never ingresses without a service.
    if counts.get("ingresses") and "services" in counts and counts["services"] == 0:
        counts[kinds[0]] += counts["ingresses"]
        counts["ingresses"] = 0
    return {k: counts.get(k, 0) for k in KINDS}


def word(rng, n=8):
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(n))


def release_values(rng, index, name, package, objects):
    """The bundle's values for one release: its own env, config and secrets."""
    kinds = PACKAGES[package][1]
    env = {f"{name.upper().replace('-', '_')}_{k}": f"{word(rng, 6)}-{index}"
           for k in ("MODE", "REGION", "ENDPOINT", "POOL", "CACHE", "QUEUE", "TRACE", "TOKEN_TTL")}
    config = {f"{k}.key": f"{name}/{k}/{word(rng, 12)}"
              for k in ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")}
    secrets = {k: word(rng, 16) for k in ("username", "password", "api-key", "tls-seed")}
    return {
        "owner": f"team-{index % 25:02d}@example.dev",
        "image": {"tag": f"{rng.randint(1, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 99)}"},
        "env": env,
        "config": config,
        "secrets": secrets,
        "settings": {"logLevel": rng.choice(["debug", "info", "warn"]), "shard": index},
        "counts": split_counts(objects, kinds),
    }


def dump(value, indent=0):
    """Minimal YAML writer (JSON-compatible flow for scalars) for our data."""
    pad = "  " * indent
    lines = []
    if isinstance(value, dict):
        if not value:
            return pad + "{}\n"
        for k, v in value.items():
            key = json.dumps(k) if not k.replace("-", "").replace("_", "").replace(".", "").isalnum() else k
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{key}:\n{dump(v, indent + 1)}")
            else:
                lines.append(f"{pad}{key}: {scalar(v)}\n")
    elif isinstance(value, list):
        if not value:
            return pad + "[]\n"
        for v in value:
            if isinstance(v, dict) and v:
                inner = dump(v, indent + 1)
                lines.append(f"{pad}- {inner.lstrip()}")
            elif isinstance(v, list) and v:
                lines.append(f"{pad}-\n{dump(v, indent + 1)}")
            else:
                lines.append(f"{pad}- {scalar(v)}\n")
    else:
        return pad + scalar(value) + "\n"
    return "".join(lines)


def scalar(v):
    if isinstance(v, dict):
        return "{}"
    if isinstance(v, list):
        return "[]"
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return json.dumps(v)
    return json.dumps(str(v))  # a JSON string is a valid YAML string


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def generate(out, releases, objects, levels, seed):
    rng = random.Random(seed)

    # Packages.
    package_versions = 0
    for name, (versions, kinds, ships_crd) in PACKAGES.items():
        for version in versions:
            d = os.path.join(out, "packages", name, version)
            write(os.path.join(d, "package.yaml"), dump({
                "name": name,
                "version": version,
                "appVersion": f"v{version}",
                "description": f"Synthetic {name} package for benchmarks.",
            }))
            write(os.path.join(d, "values.yaml"), dump(package_values(name, version)))
            write(os.path.join(d, "values-prod.yaml"), dump({
                "replicas": 2,
                "resources": {"limits": {"cpu": "2", "memory": "1Gi"}},
            }))
            write(os.path.join(d, "values.schema.json"), json.dumps(SCHEMA, indent=2) + "\n")
            write(os.path.join(d, "templates", "_helpers.yaml"), HELPERS)
            for kind in kinds:
                file, text, _ = KINDS[kind]
                write(os.path.join(d, "templates", file), text)
            if ships_crd:
                write(os.path.join(d, "crds", "widgets.yaml"), CRD)
            package_versions += 1

    # Releases: release 0 is the base (it ships the CRD, so only one release
    # may use it); the rest cycle through the other packages. Release i sits
    # on level i * levels // releases and depends on one to three releases
    # of the level below, and sometimes on one further down.
    levels = max(1, min(levels, releases))
    others = [p for p in PACKAGES if p != "base"]
    by_level = {}
    specs = []
    overrides = {}
    enable = []
    for i in range(releases):
        level = i * levels // releases
        package = "base" if i == 0 else others[(i - 1) % len(others)]
        name = "base" if i == 0 else f"{package}-{i:04d}"
        if package == "base":
            requirement = "^1.0"
        else:
            reqs = REQUIREMENTS[package]
            requirement = reqs[i % len(reqs)]
        spec = {
            "name": name,
            "package": package,
            "version": requirement,
            "namespace": "base-system" if i == 0 else f"team-{i % 25:02d}",
        }
        deps = []
        below = by_level.get(level - 1, [])
        if below:
            deps = rng.sample(below, min(len(below), rng.randint(1, 3)))
            further = [n for lv in range(level - 1) for n in by_level.get(lv, [])]
            if further and rng.random() < 0.3:
                extra = rng.choice(further)
                if extra not in deps:
                    deps.append(extra)
        elif i != 0:
            deps = ["base"]
        if deps:
            spec["dependsOn"] = deps
        if i % 3 == 1:
            spec["valuesFiles"] = ["values-prod.yaml"]
        if i % 50 == 25:
            spec["optional"] = True
            enable.append(name)
        # The base release's CRD counts as one of its objects.
        own = objects - 1 if package == "base" and objects > 1 else objects
        spec["values"] = release_values(rng, i, name, package, own)
        specs.append(spec)
        by_level.setdefault(level, []).append(name)
        if i % 10 == 5:
            overrides[name] = {"values": {"replicas": 3}}

    write(os.path.join(out, "bundles", "bench.yaml"), dump({
        "description": f"Synthetic bundle: {releases} releases x {objects} objects.",
        "releases": specs,
    }))
    platform = {
        "bundle": "bench",
        "kubeVersion": "v1.34.1",
        "values": {"clusterDomain": "bench.example", "region": "eu-west-1"},
    }
    if enable:
        platform["enable"] = enable
    if overrides:
        platform["releases"] = overrides
    write(os.path.join(out, "platform.yaml"), dump(platform))
    return package_versions


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--releases", type=int, default=200)
    ap.add_argument("--objects", type=int, default=40, help="objects per release")
    ap.add_argument("--levels", type=int, default=6, help="levels of the release DAG")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True, help="directory to create")
    args = ap.parse_args()
    if args.releases < 1 or args.objects < 1:
        ap.error("--releases and --objects must be at least 1")
    if os.path.exists(args.out) and os.listdir(args.out):
        ap.error(f"{args.out} exists and is not empty")
    n = generate(args.out, args.releases, args.objects, args.levels, args.seed)
    print(f"generated {args.releases} releases x {args.objects} objects, "
          f"{n} package versions, in {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
