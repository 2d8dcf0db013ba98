#!/usr/bin/env bash
# deploy/smoke.sh: build deploy/Dockerfile with podman and run it as a user would, then run the
# compose topology with podman-compose. Prints the figures (build time, image size, start-up
# time to /readyz, health, the cross-replica read). Exits non-zero on the first thing that fails.
#
#   bash deploy/smoke.sh                  (as root, from anywhere; ~3-6 min on 2 cores, less cached)
#
# What it does, in order:
#   1. podman, runc, debootstrap from Debian if missing; podman-compose from PyPI into its own
#      virtualenv under $OKR_SMOKE_CACHE (default /var/cache/okr-smoke), kept between runs.
#   2. The Dockerfile's base (its PYTHON_IMAGE default, python:3.11-slim-bookworm): used as is
#      when it is in local storage or can be pulled; otherwise made once from Debian packages
#      (debootstrap --variant=minbase bookworm from the machine's configured Debian mirror, then
#      python3.11 + venv + `python` inside it), imported under the same name with the label
#      org.okr.smoke.base=debootstrap, and reused by later runs on this machine. It trusts the
#      machine's CA bundle (pip in the builder stage reaches PyPI through it). deploy/Dockerfile
#      itself is unchanged: elsewhere the same build uses the real python image.
#   3. `podman build --format docker` (the OCI format drops HEALTHCHECK) of deploy/Dockerfile.
#   4. One container as a user runs it: `okr serve`, uid 10001, read-only root filesystem (only
#      /tmp as tmpfs), the data directory on a named volume; /healthz and /readyz over HTTP,
#      `podman healthcheck run` (the image's HEALTHCHECK as podman evaluates it), tini as PID 1,
#      `okr token` and `okr demo` through `podman exec`, then SIGTERM (podman stop) -> exit 0
#      within the grace period.
#   5. The compose topology with podman-compose, against this machine's own PostgreSQL
#      (127.0.0.1:5432, database `test`, a fresh schema per run) and NATS (127.0.0.1:4222, a
#      stream and subject prefix of its own per run), all containers on the host network.
#      Why not PostgreSQL and NATS images built from Debian packages: Debian bookworm ships
#      PostgreSQL 15 and nats-server 2.9, not the postgres:16 / nats:2.10 the file names, and a
#      home-made "postgres:16" would not run the official image's entrypoint (POSTGRES_* init),
#      so it would test a stand-in rather than the file; the machine's servers are the ones the
#      test suite already uses, and building two more images would not fit CI's 8-minute bound.
#      Why host networking: both servers listen on 127.0.0.1 only. The smoke compose file is
#      derived from deploy/compose.yaml by deploy/smoke_compose.py, which changes only what
#      host networking forces and says so (see there); the okr roles keep the file's command,
#      read_only, tmpfs, cap_drop, security_opt, env_file, health checks and depends_on.
#      Then: two APIs, projector and relay up (APIs healthy as podman evaluates the file's check),
#      a check-in through API 1 read through API 2 with X-Consistent-With, and the same event
#      read from NATS by examples/consumer.py.
#
# Settings (environment): OKR_SMOKE_CACHE (cache dir), OKR_SMOKE_DATABASE_URL (default
# postgresql://postgres@127.0.0.1:5432/test), OKR_SMOKE_NATS_URL (default nats://127.0.0.1:4222),
# OKR_SMOKE_PYTHON (a Python with httpx and nats-py for the client side; default the repo's .venv),
# OKR_SMOKE_SKIP_COMPOSE=1 (image only), OKR_SMOKE_KEEP=1 (leave containers for inspection).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${OKR_SMOKE_CACHE:-/var/cache/okr-smoke}"
DATABASE_URL="${OKR_SMOKE_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/test}"
NATS_URL="${OKR_SMOKE_NATS_URL:-nats://127.0.0.1:4222}"
CLIENT_PY="${OKR_SMOKE_PYTHON:-$ROOT/.venv/bin/python}"
BASE_RECIPE="debootstrap-2"   # bump when build_base_from_debian changes: cached bases are remade
RUN_ID="$(date +%s)$$"
IMAGE="okr-service:smoke"
PODMAN=(podman --runtime runc)
ULIMITS=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
# Podman schedules HEALTHCHECK runs with systemd timers; without systemd (containers, CI) it
# logs that it cannot (the check itself is then run with `podman healthcheck run`): that line
# is filtered out, everything else podman says is kept.
no_timer_noise() { "$@" 2> >(grep -v 'unable to get systemd connection' >&2); }
WORK="$(mktemp -d /tmp/okr-smoke.XXXXXX)"
FIGURES="$WORK/figures"
: > "$FIGURES"

say() { printf '== smoke: %s\n' "$*" >&2; }
fail() { printf '== smoke: FAILED: %s\n' "$*" >&2; exit 1; }
figure() { printf '%-28s %s\n' "$1" "$2" | tee -a "$FIGURES" >&2; }
now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# --- 1. tools ---------------------------------------------------------------------------------

install_tools() {
    local missing=()
    command -v podman >/dev/null || missing+=(podman)
    command -v runc >/dev/null || missing+=(runc)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    if [ "${#missing[@]}" -gt 0 ]; then
        say "apt-get install ${missing[*]}"
        as_root apt-get update -q
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q "${missing[@]}" podman runc debootstrap
    fi
    if [ "${OKR_SMOKE_SKIP_COMPOSE:-0}" != 1 ] && [ ! -x "$CACHE/venv/bin/podman-compose" ]; then
        say "podman-compose into $CACHE/venv"
        mkdir -p "$CACHE"
        python3 -m venv "$CACHE/venv"
        "$CACHE/venv/bin/pip" install -q 'podman-compose>=1.2,<2'
    fi
}

# --- 2. the base image ------------------------------------------------------------------------

# The Dockerfile's own default base, e.g. python:3.11-slim-bookworm.
base_name() { sed -n 's/^ARG PYTHON_IMAGE=\(.*\)$/\1/p' "$ROOT/deploy/Dockerfile" | head -n1; }

# Short names resolve through registries.conf's aliases (python -> docker.io/library/python).
qualified() { case "$1" in */*) echo "$1" ;; *) echo "docker.io/library/$1" ;; esac; }

debian_mirror() {
    local uri
    uri="$(sed -n 's/^URIs:[[:space:]]*\(\S*\/debian\)[[:space:]]*$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)"
    [ -n "$uri" ] || uri="$(sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\(\S*\/debian\)[[:space:]]\+bookworm[[:space:]].*/\2/p' /etc/apt/sources.list 2>/dev/null | head -n1)"
    echo "${uri:-http://deb.debian.org/debian}"
}

build_base_from_debian() {
    local name="$1" mirror rootfs started
    mirror="$(debian_mirror)"
    rootfs="$CACHE/rootfs.$RUN_ID"
    started="$(now)"
    say "base $name: debootstrap --variant=minbase bookworm from $mirror (once per machine)"
    rm -rf "$rootfs"
    mkdir -p "$rootfs"
    debootstrap --variant=minbase --include=ca-certificates,python3.11 bookworm "$rootfs" "$mirror" \
        > "$CACHE/debootstrap.log" 2>&1 || { tail -n 20 "$CACHE/debootstrap.log" >&2; fail "debootstrap"; }
    # The image's apt sources: the same mirror, with updates and security, as deb822.
    rm -f "$rootfs/etc/apt/sources.list"
    cat > "$rootfs/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
    # python3.11-venv in the debootstrap run fails on a dependency: a second step inside the root.
    mount -t proc proc "$rootfs/proc"
    chroot "$rootfs" /bin/sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends python3.11-venv python3-venv python-is-python3 \
        && apt-get clean && rm -rf /var/lib/apt/lists/*' >> "$CACHE/debootstrap.log" 2>&1 \
        || { umount "$rootfs/proc"; tail -n 20 "$CACHE/debootstrap.log" >&2; fail "python3.11-venv in the base"; }
    umount "$rootfs/proc"
    # This machine reaches PyPI through its own CA: the builder stage's pip must trust it.
    cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
    printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' > "$rootfs/etc/pip.conf"
    # What Debian's official images set for apt (no package caches left in layers); without it
    # the Dockerfile's `apt-get install tini` layer keeps 80 MB of /var/cache/apt/*.bin.
    cat > "$rootfs/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
    printf 'Acquire::GzipIndexes "true";\nAcquire::CompressionTypes::Order:: "gz";\n' \
        > "$rootfs/etc/apt/apt.conf.d/docker-gzip-indexes"
    printf 'Acquire::Languages "none";\n' > "$rootfs/etc/apt/apt.conf.d/docker-no-languages"
    rm -rf "$rootfs/var/cache/apt/"*.bin "$rootfs/var/log/"*.log "$rootfs/usr/share/doc" "$rootfs/usr/share/man"
    tar --numeric-owner -C "$rootfs" -c . | podman import --quiet \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change "LABEL org.okr.smoke.base=$BASE_RECIPE" \
        --change 'CMD ["python3"]' \
        - "$name" > /dev/null
    rm -rf "$rootfs"
    figure "base image (debootstrap)" "$(since "$started") s, made once, then cached"
}

ensure_base() {
    local name
    name="$(base_name)"
    [ -n "$name" ] || fail "no ARG PYTHON_IMAGE default in deploy/Dockerfile"
    name="$(qualified "$name")"
    if podman image exists "$name"; then
        local origin
        origin="$(podman image inspect --format '{{index .Labels "org.okr.smoke.base"}}' "$name" 2>/dev/null || true)"
        if [ -z "$origin" ] || [ "$origin" = "$BASE_RECIPE" ]; then
            figure "base image" "$name (cached${origin:+, made by $origin})"
            return
        fi
        say "base $name was made by an older recipe ($origin): making it again"
        podman rmi -f "$name" > /dev/null
    fi
    say "base $name: trying to pull it"
    if timeout 90 podman pull -q "$name" > /dev/null 2>"$WORK/pull.err"; then
        figure "base image" "$name (pulled)"
        return
    fi
    say "cannot pull $name ($(tail -n1 "$WORK/pull.err" | cut -c1-160)); making it from Debian packages"
    build_base_from_debian "$name"
}

# --- 3. the image -----------------------------------------------------------------------------

build_image() {
    local started size
    started="$(now)"
    say "podman build -f deploy/Dockerfile -t $IMAGE (context: the repository root)"
    # --format docker: the OCI image format has no HEALTHCHECK, podman drops it without it.
    # --network host: the RUN steps (apt-get, pip) reach the mirrors as the host does.
    "${PODMAN[@]}" build --format docker --network host "${ULIMITS[@]}" \
        -f "$ROOT/deploy/Dockerfile" -t "$IMAGE" "$ROOT" > "$WORK/build.log" 2>&1 \
        || { tail -n 30 "$WORK/build.log" >&2; fail "podman build (log: $WORK/build.log)"; }
    figure "build time" "$(since "$started") s"
    # Untagged leftovers (the previous smoke image, builder-stage layers) would pile up run after
    # run on a CI machine; the next build redoes the pip layer (about 15 s more).
    podman image prune -f > /dev/null
    size="$(podman image inspect --format '{{.Size}}' "$IMAGE")"
    figure "image size" "$((size / 1000000)) MB (layers: $(podman history --format '{{.Size}}' "$IMAGE" \
        | grep -v '^0 B$' | tac | paste -sd '+' | sed 's/+/ + /g'); base + apt (tini, user) + venv)"
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

secret() { python3 -c 'import secrets; print(secrets.token_urlsafe(48))'; }

# --- 4. one container, as a user runs it ------------------------------------------------------

CONTAINERS=()
VOLUMES=()
cleanup() {
    local rc=$?
    if [ "${OKR_SMOKE_KEEP:-0}" != 1 ]; then
        [ -z "${COMPOSE_FILE:-}" ] || compose down -t 5 > /dev/null 2>&1 || true
        for c in "${CONTAINERS[@]}"; do podman rm -f -t 2 "$c" > /dev/null 2>&1 || true; done
        for v in "${VOLUMES[@]}"; do podman volume rm -f "$v" > /dev/null 2>&1 || true; done
        [ -z "${SCHEMA:-}" ] || psql_ "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" > /dev/null 2>&1 || true
        [ -z "${STREAM:-}" ] || "$CLIENT_PY" -c "import asyncio, nats
async def main():
    nc = await nats.connect('$NATS_URL'); await nc.jetstream().delete_stream('$STREAM'); await nc.close()
asyncio.run(main())" > /dev/null 2>&1 || true
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM INT   # a timeout or Ctrl-C still cleans up

run_single() {
    local name="okr-smoke-$RUN_ID" volume="okr-smoke-data-$RUN_ID" port started ready token
    port="$(free_port)"
    podman volume create "$volume" > /dev/null
    VOLUMES+=("$volume")
    CONTAINERS+=("$name")
    say "podman run $IMAGE serve (read-only root, data on volume $volume, 127.0.0.1:$port)"
    started="$(date +%s.%N)"
    no_timer_noise "${PODMAN[@]}" run -d --name "$name" "${ULIMITS[@]}" \
        --read-only --read-only-tmpfs=false --tmpfs /tmp \
        --cap-drop ALL --security-opt no-new-privileges \
        -v "$volume:/var/lib/okr" -p "127.0.0.1:$port:8000" \
        -e OKR_JWT_SECRET="$(secret)" "$IMAGE" > /dev/null
    ready="$("$CLIENT_PY" "$ROOT/deploy/smoke.py" wait "http://127.0.0.1:$port/readyz" --since "$started" --timeout 60)" \
        || { podman logs "$name" 2>&1 | tail -n 30 >&2; fail "the image did not start: /readyz"; }
    figure "start-up to /readyz" "$ready s (from podman run)"
    "$CLIENT_PY" "$ROOT/deploy/smoke.py" wait "http://127.0.0.1:$port/healthz" --since "$started" > /dev/null \
        || fail "/healthz"

    local uid pid1 health status
    uid="$(podman exec "$name" id -u):$(podman exec "$name" id -g)"
    [ "$uid" = "10001:10001" ] || fail "runs as $uid, not 10001:10001"
    pid1="$(podman exec "$name" cat /proc/1/cmdline | tr '\0' ' ')"
    case "$pid1" in tini\ --\ okr\ serve*|/usr/bin/tini\ --\ okr\ serve*) ;; *) fail "PID 1 is '$pid1', not tini" ;; esac
    if podman exec "$name" touch /opt/venv/smoke 2> /dev/null; then fail "the root filesystem is writable"; fi
    podman exec "$name" sh -c 'test -s /var/lib/okr/okr.sqlite3' || fail "no event store on the data volume"
    podman image inspect --format '{{.Config.Healthcheck.Test}}' "$IMAGE" | grep -q /healthz \
        || fail "the image has no HEALTHCHECK on /healthz"
    health="$("${PODMAN[@]}" healthcheck run "$name" 2>&1)" || fail "podman healthcheck run: $health"
    status="$(podman inspect --format '{{.State.Health.Status}}' "$name" 2> /dev/null \
        || podman inspect --format '{{.State.Healthcheck.Status}}' "$name")"
    [ "$status" = healthy ] || fail "health status '$status' after podman healthcheck run"
    figure "single container" "uid $uid, PID 1 '$pid1', root fs read-only, HEALTHCHECK: $status"

    token="$(podman exec "$name" okr token --org demo --user gia --role lead)" || fail "okr token via podman exec"
    podman exec "$name" okr demo > "$WORK/demo.log" 2>&1 || { cat "$WORK/demo.log" >&2; fail "okr demo via podman exec"; }
    local served
    served="$("$CLIENT_PY" "$ROOT/deploy/smoke.py" demo "http://127.0.0.1:$port" "$token")" \
        || fail "the demo org through the API"
    figure "okr token / okr demo" "via podman exec; the API serves $served"

    local grace=30 stopped code
    started="$(now)"
    no_timer_noise podman stop -t "$grace" "$name" > /dev/null
    stopped="$(since "$started")"
    code="$(podman inspect --format '{{.State.ExitCode}}' "$name")"
    [ "$code" = 0 ] || { podman logs "$name" 2>&1 | tail -n 20 >&2; fail "okr serve exited $code on SIGTERM"; }
    python3 -c "import sys; sys.exit(float(sys.argv[1]) >= float(sys.argv[2]))" "$stopped" "$grace" \
        || fail "SIGTERM took $stopped s (grace $grace s): killed, not stopped"
    figure "SIGTERM" "exit 0 after $stopped s (grace ${grace} s)"
}

# --- 5. the compose topology ------------------------------------------------------------------

psql_() {
    "$CLIENT_PY" -c "import sys, psycopg
with psycopg.connect(sys.argv[1], autocommit=True) as db: db.execute(sys.argv[2])" "$DATABASE_URL" "$1"
}

compose() {
    # In-pod off: a pod shares one network namespace, and these containers use the host's.
    "$CACHE/venv/bin/podman-compose" --in-pod false -p "$PROJECT" -f "$COMPOSE_FILE" \
        --podman-args "--runtime runc" \
        --podman-run-args "--ulimit nofile=1024:1024 --ulimit nproc=1024:1024" "$@"
}

# The containers of one compose service, e.g. `containers_of api`.
containers_of() {
    podman ps -a --filter "label=io.podman.compose.project=$PROJECT" \
        --filter "label=com.docker.compose.service=$1" --format '{{.Names}}'
}

# Waits until compose service $1 meets depends_on condition $2, as podman sees it.
await_condition() {
    local c code deadline=$((SECONDS + 60))
    c="$(containers_of "$1")"
    [ -n "$c" ] || fail "no container for compose service $1"
    case "$2" in
        service_completed_successfully)
            code="$(timeout 60 podman wait "$c")" || fail "$1 did not finish within 60 s"
            [ "$code" = 0 ] || { podman logs "$c" 2>&1 | tail -n 20 >&2; fail "$1 exited $code"; } ;;
        service_healthy)
            until no_timer_noise "${PODMAN[@]}" healthcheck run "$c" > /dev/null 2>&1; do
                [ "$SECONDS" -lt "$deadline" ] || { podman logs "$c" 2>&1 | tail -n 20 >&2; fail "$1 not healthy"; }
                sleep 1
            done ;;
        *)
            [ "$(podman inspect --format '{{.State.Status}}' "$c")" = running ] \
                || { podman logs "$c" 2>&1 | tail -n 20 >&2; fail "$1 is not running"; } ;;
    esac
}

run_compose() {
    PROJECT="okr-smoke-$RUN_ID"
    SCHEMA="okr_smoke_$RUN_ID"
    STREAM="OKR_SMOKE_$RUN_ID"
    local prefix="smoke$RUN_ID" port1 port2 started ready1 ready2
    port1="$(free_port)"
    port2="$(free_port)"
    psql_ "CREATE SCHEMA $SCHEMA" || fail "PostgreSQL at $DATABASE_URL"
    # As a user does: copy okr.env.example next to the compose file and fill it in.
    cat > "$WORK/okr.env" <<ENV
$(grep -v -E '^(OKR_DATABASE_URL|OKR_JWT_SECRET|POSTGRES_PASSWORD)=' "$ROOT/deploy/okr.env.example")
POSTGRES_PASSWORD=unused-the-machine-s-postgresql-is-used
OKR_DATABASE_URL=$DATABASE_URL
OKR_JWT_SECRET=$(secret)
OKR_DATABASE_SCHEMA=$SCHEMA
OKR_NATS_STREAM=$STREAM
OKR_NATS_SUBJECT_PREFIX=$prefix
ENV
    COMPOSE_FILE="$WORK/compose.yaml"
    "$CLIENT_PY" "$ROOT/deploy/smoke.py" compose "$ROOT/deploy/compose.yaml" "$COMPOSE_FILE" \
        --port1 "$port1" --port2 "$port2" --nats-url "$NATS_URL" --image "localhost/$IMAGE" > "$WORK/stages" \
        || fail "deriving the smoke compose file"
    say "podman-compose up: the machine's PostgreSQL (schema $SCHEMA) and NATS (stream $STREAM), host network"
    # podman-compose 1.6 on podman 4.3 cannot honour depends_on itself: it skips service_healthy
    # (needs podman >= 4.6), and its --requires chains fail to start ("generating dependency
    # graph ... not found in input list"). So the file's depends_on order and conditions are
    # enacted here, a stage at a time with --no-deps, each condition checked by podman.
    started="$(date +%s.%N)"
    local stage entry
    while read -r -a stage <&3; do
        no_timer_noise compose up -d --no-deps "${stage[@]%%:*}" >> "$WORK/compose-up.log" 2>&1 \
            || { tail -n 30 "$WORK/compose-up.log" >&2; fail "podman-compose up ${stage[*]%%:*}"; }
        for entry in "${stage[@]}"; do await_condition "${entry%%:*}" "${entry#*:}"; done
    done 3< "$WORK/stages"
    ready1="$("$CLIENT_PY" "$ROOT/deploy/smoke.py" wait "http://127.0.0.1:$port1/readyz" --since "$started" --timeout 90)" \
        || { compose logs api 2>&1 | tail -n 30 >&2; fail "API 1 not ready"; }
    ready2="$("$CLIENT_PY" "$ROOT/deploy/smoke.py" wait "http://127.0.0.1:$port2/readyz" --since "$started" --timeout 90)" \
        || { compose logs api-2 2>&1 | tail -n 30 >&2; fail "API 2 not ready"; }
    figure "compose up to /readyz" "API 1 $ready1 s, API 2 $ready2 s (from podman-compose up)"

    local service c state summary=()
    for service in schema api api-2 projector relay; do
        c="$(containers_of "$service")"
        [ -n "$c" ] || fail "no container for compose service $service"
        state="$(podman inspect --format '{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}}' "$c")"
        case "$service:$state" in
            schema:"exited 0 "*) ;;
            schema:*) compose logs schema 2>&1 | tail -n 20 >&2; fail "schema job: $state" ;;
            *:"running 0 0") ;;
            *) podman logs "$c" 2>&1 | tail -n 20 >&2; fail "$service: $state (status, exit code, restarts)" ;;
        esac
        if [ "$service" = api ] || [ "$service" = api-2 ]; then
            no_timer_noise "${PODMAN[@]}" healthcheck run "$c" > /dev/null || fail "$service: podman healthcheck run"
            state="$(podman inspect --format '{{.State.Health.Status}}' "$c")"
            [ "$state" = healthy ] || fail "$service: $state"
            summary+=("$service healthy")
        elif [ "$service" = schema ]; then
            summary+=("schema exited 0")
        else
            summary+=("$service running")
        fi
    done
    figure "compose services" "$(IFS=,; echo "${summary[*]}" | sed 's/,/, /g')"

    local token cross
    token="$(podman exec "$(containers_of api)" okr token --org smoke --user ops --role admin)" \
        || fail "okr token in the api container"
    cross="$("$CLIENT_PY" "$ROOT/deploy/smoke.py" cross "http://127.0.0.1:$port1" "http://127.0.0.1:$port2" "$token" \
        --org smoke --nats-url "$NATS_URL" --stream "$STREAM" --prefix "$prefix")" \
        || { compose logs relay 2>&1 | tail -n 20 >&2; fail "the cross-replica read"; }
    figure "cross-replica read" "$cross"

    started="$(now)"
    no_timer_noise compose down -t 30 > "$WORK/compose-down.log" 2>&1 || fail "podman-compose down"
    figure "compose down" "$(since "$started") s"
}

# --- main -------------------------------------------------------------------------------------

main() {
    local started
    started="$(now)"
    [ "$(id -u)" -eq 0 ] || say "not root: podman runs rootless, debootstrap needs sudo"
    [ -x "$CLIENT_PY" ] || fail "$CLIENT_PY missing: create the dev virtualenv (pip install -e '.[dev]') or set OKR_SMOKE_PYTHON"
    install_tools
    ensure_base
    build_image
    run_single
    [ "${OKR_SMOKE_SKIP_COMPOSE:-0}" = 1 ] || run_compose
    figure "smoke total" "$(since "$started") s"
    say "passed; figures:"
    cat "$FIGURES"
}

# Sourcing this file (tests, debugging) defines the functions without running them.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
