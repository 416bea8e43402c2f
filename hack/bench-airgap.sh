#!/usr/bin/env bash
# Export and import of about 1 GiB of image data, against the disk's own
# limit measured in the same run.
#
#   bash hack/bench-airgap.sh            BENCH_MIB=1024 by default
#   BENCH_MIB=4096 bash hack/bench-airgap.sh
#
# It starts two registries of its own on 127.0.0.1 (hack/registry.sh), pushes
# generated images to the first (random, incompressible layers of 64 MiB,
# four per image), writes a distribution whose Deployments use them, then:
#
#   limit   `tar -cf - -C layers . | tee base.tar | sha256sum`: the same bytes
#           read, written once and hashed, which is what export and import
#           each do at best (the physical limit of this disk and CPU); the
#           disk alone (tar) and sha256sum alone are shown too, since on a
#           CPU with SHA extensions sha256sum (which does not use them) can
#           be the slower of the two
#   export  `distro export` from the first registry
#   import  `distro import` into the second (verify pass + push pass)
#
# and prints MiB/s, the ratio to the limit and peak RSS (/usr/bin/time -v).
# Goals: at least 0.7x of the limit, peak RSS under 100 MiB whatever the size.
# Not part of hack/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

MIB=${BENCH_MIB:-1024}
LAYER_MIB=64
PER_IMAGE=4

step() { printf '\n==> %s\n' "$*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || { echo "$1 is required" >&2; exit 1; }; }
need curl
need sha256sum
need tar
[[ -x /usr/bin/time ]] || { echo "/usr/bin/time is required (apt-get install time)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/distro-bench-airgap.XXXXXX")
cleanup() {
  bash hack/registry.sh down "$work/source" >/dev/null 2>&1 || true
  bash hack/registry.sh down "$work/target" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

step "cargo build --release"
cargo build --release --quiet --bin distro
bin=${CARGO_TARGET_DIR:-$root/target}/release/distro

step "registries"
src=$(bash hack/registry.sh up "$work/source" 2>/dev/null)
dst=$(bash hack/registry.sh up "$work/target" 2>/dev/null)
echo "source $src, target $dst" >&2

# PUT a file as a blob (streamed by curl -T, never held in memory).
upload_once() {
  local repo=$1 file=$2 digest=$3 loc sep
  loc=$(curl -sSf --noproxy '*' -X POST -D - -o /dev/null "http://$src/v2/$repo/blobs/uploads/" |
    awk -F': ' 'tolower($1)=="location"{print $2}' | tr -d '\r')
  [[ $loc == http* ]] || loc="http://$src$loc"
  sep='?'
  [[ $loc == *\?* ]] && sep='&'
  curl -sSf --noproxy '*' -X PUT -H 'Content-Type: application/octet-stream' \
    -T "$file" "$loc${sep}digest=$digest" -o /dev/null
}
# The registry now and then answers 500 under load: a few tries.
upload() {
  local try
  for try in 1 2 3; do
    upload_once "$@" && return 0
    sleep "$try"
  done
  tail -n 20 "$work/source/registry.log" >&2
  return 1
}

step "generating and pushing ${MIB} MiB of layers"
mkdir -p "$work/layers" "$work/dist/packages/bench/1.0.0/templates" "$work/dist/bundles"
layers=$((MIB / LAYER_MIB))
images=$(((layers + PER_IMAGE - 1) / PER_IMAGE))
values=""
for ((i = 0; i < images; i++)); do
  descs=""
  for ((j = 0; j < PER_IMAGE && i * PER_IMAGE + j < layers; j++)); do
    f="$work/layers/layer-$i-$j"
    head -c $((LAYER_MIB << 20)) /dev/urandom >"$f"
    d=sha256:$(sha256sum "$f" | cut -d' ' -f1)
    upload "bench/img$i" "$f" "$d"
    descs+="${descs:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"$d\",\"size\":$((LAYER_MIB << 20))}"
  done
  printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$work/config-$i.json"
  cd_=sha256:$(sha256sum "$work/config-$i.json" | cut -d' ' -f1)
  upload "bench/img$i" "$work/config-$i.json" "$cd_"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[%s]}' \
    "$cd_" "$(stat -c %s "$work/config-$i.json")" "$descs" >"$work/manifest-$i.json"
  curl -sSf --noproxy '*' -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
    --data-binary @"$work/manifest-$i.json" "http://$src/v2/bench/img$i/manifests/v1" -o /dev/null
  values+="        - $src/bench/img$i:v1"$'\n'
done

cat >"$work/dist/platform.yaml" <<EOF
name: bench-airgap
bundle: main
releases:
  bench:
    values:
      images:
$values
EOF
cat >"$work/dist/bundles/main.yaml" <<'EOF'
releases:
  - name: bench
    package: bench
    version: 1.0.0
    namespace: bench-airgap
EOF
printf 'name: bench\nversion: 1.0.0\n' >"$work/dist/packages/bench/1.0.0/package.yaml"
printf 'images: []\n' >"$work/dist/packages/bench/1.0.0/values.yaml"
cat >"$work/dist/packages/bench/1.0.0/templates/deployments.yaml" <<'EOF'
{% for image in values.images %}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: img{{ loop.index0 }}
spec:
  selector:
    matchLabels: {app: img{{ loop.index0 }}}
  template:
    metadata:
      labels: {app: img{{ loop.index0 }}}
    spec:
      containers:
        - name: main
          image: {{ image }}
{% endfor %}
EOF

bytes=$(du -sb "$work/layers" | cut -f1)
mibs() { awk -v b="$bytes" -v s="$1" 'BEGIN { printf "%.0f", b / 1048576 / s }'; }
timed() { # timed NAME CMD...: wall seconds and peak RSS (KiB) into $work/NAME.time
  local name=$1
  shift
  /usr/bin/time -f '%e %M' -o "$work/$name.time" "$@"
}

step "limit: tar + sha256sum of the same bytes"
sync
timed limit bash -c "tar -cf - -C '$work/layers' . | tee '$work/base.tar' | sha256sum >/dev/null"
rm -f "$work/base.tar"
read -r limit_s _ <"$work/limit.time"
# For reference: the disk alone (tar writing the bytes, no hash), and
# sha256sum alone over them, to see which of the two bounds the limit.
sync
timed disk tar -cf "$work/base.tar" -C "$work/layers" .
rm -f "$work/base.tar"
read -r disk_s _ <"$work/disk.time"
timed hash bash -c "cat '$work'/layers/* | sha256sum >/dev/null"
read -r hash_s _ <"$work/hash.time"

step "distro export"
sync
(cd "$work/dist" && timed export "$bin" export -o "$work/platform.tar" --format json >"$work/export.json" 2>"$work/export.log")
read -r export_s export_kib <"$work/export.time"

step "distro import"
sync
timed import "$bin" import "$work/platform.tar" --registry "$dst/mirror" -o json >"$work/import.json" 2>"$work/import.log"
read -r import_s import_kib <"$work/import.time"

ratio() { awk -v a="$limit_s" -v b="$1" 'BEGIN { printf "%.2f", a / b }'; }
printf '\n%-8s %10s %8s %8s %12s\n' step seconds MiB/s "x limit" "peak RSS"
printf '%-8s %10s %8s %8s %12s\n' limit "$limit_s" "$(mibs "$limit_s")" 1.00 "-"
printf '%-8s %10s %8s %8s %12s\n' "(disk)" "$disk_s" "$(mibs "$disk_s")" "$(ratio "$disk_s")" "tar only"
printf '%-8s %10s %8s %8s %12s\n' "(hash)" "$hash_s" "$(mibs "$hash_s")" "$(ratio "$hash_s")" "sha256sum only"
printf '%-8s %10s %8s %8s %9s MiB\n' export "$export_s" "$(mibs "$export_s")" "$(ratio "$export_s")" $((export_kib / 1024))
printf '%-8s %10s %8s %8s %9s MiB\n' import "$import_s" "$(mibs "$import_s")" "$(ratio "$import_s")" $((import_kib / 1024))
echo "($((bytes >> 20)) MiB of layers in $images images; goals: >= 0.70x the limit, < 100 MiB RSS)"
echo "phases:" >&2
grep -hE '^(resolved|pulled|verified|pushed) ' "$work/export.log" "$work/import.log" | sed 's/^/  /' >&2
