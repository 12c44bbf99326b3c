#!/usr/bin/env bash
# Test bed installer: the Debian packages the tests need, the shared PostgreSQL
# (127.0.0.1:5432) and Redis (127.0.0.1:6379), and cached root filesystems for
# the Docker and systemd tests under /var/cache/opsconsole-testbed/.
#
# Run as root on Debian 12. Idempotent: a second run only checks and exits.
# It never starts a default dockerd and never touches the host's network setup.
set -euo pipefail

CACHE=/var/cache/opsconsole-testbed
BUSYBOX_TAR=$CACHE/busybox-rootfs-v1.tar
SYSTEMD_TZST=$CACHE/bookworm-systemd-v2.tar.zst
PACKAGES=(
    postgresql redis-server docker.io busybox-static debootstrap systemd-container
    zstd libsystemd-dev pkg-config gcc python3-dev python3-venv git tmux monitoring-plugins-basic openssl
    prometheus openssh-server
)
NOISE_UNITS=(
    apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer
    e2scrub_all.timer fstrim.timer console-getty.service
)

say() { printf 'testbed: %s\n' "$*"; }

if [[ $EUID -ne 0 ]]; then
    echo "testbed: install.sh must run as root" >&2
    exit 1
fi

# --- packages -------------------------------------------------------------

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || missing+=("$pkg")
done

if ((${#missing[@]})); then
    say "installing: ${missing[*]}"
    # Package postinst scripts would start a default dockerd (bridge + iptables),
    # redis and postgres through invoke-rc.d; a policy-rc.d exiting 101 stops that.
    created_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        created_policy=1
    fi
    cleanup_policy() { if ((created_policy)); then rm -f /usr/sbin/policy-rc.d; fi; }
    trap cleanup_policy EXIT
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    cleanup_policy
    trap - EXIT
else
    say "packages: all present"
fi

# --- shared PostgreSQL ----------------------------------------------------

pg_version=$(ls /etc/postgresql | sort -V | tail -n1)
pg_conf=/etc/postgresql/$pg_version/main
if ! grep -Eq '^host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$pg_conf/pg_hba.conf"; then
    say "postgres: switching local connections to trust auth"
    [[ -e $pg_conf/pg_hba.conf.orig ]] || cp "$pg_conf/pg_hba.conf" "$pg_conf/pg_hba.conf.orig"
    cat >"$pg_conf/pg_hba.conf" <<'EOF'
# Test machine: local connections are trusted (written by console/sandbox/install.sh).
local   all   all                 trust
host    all   all   127.0.0.1/32  trust
host    all   all   ::1/128       trust
local   replication all           trust
host    replication all 127.0.0.1/32 trust
EOF
    if pg_isready -q -h 127.0.0.1 -p 5432; then
        pg_ctlcluster --skip-systemctl-redirect "$pg_version" main reload
    fi
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    say "postgres: starting cluster $pg_version/main"
    pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start
    for _ in $(seq 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
fi
for db in test root; do
    if [[ -z $(psql -h 127.0.0.1 -U postgres -Atc "SELECT 1 FROM pg_database WHERE datname = '$db'") ]]; then
        say "postgres: creating database $db"
        psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE \"$db\""
    fi
done
psql -h 127.0.0.1 -U postgres -Atc 'SELECT 1' >/dev/null
say "postgres: ready on 127.0.0.1:5432"

# --- shared Redis ---------------------------------------------------------

if [[ $(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null || true) != PONG ]]; then
    say "redis: starting on 127.0.0.1:6379"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
        --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
    for _ in $(seq 50); do
        [[ $(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null || true) == PONG ]] && break
        sleep 0.1
    done
fi
[[ $(redis-cli -h 127.0.0.1 -p 6379 ping) == PONG ]]
say "redis: ready on 127.0.0.1:6379"

# --- cached root filesystems ----------------------------------------------

mkdir -p "$CACHE"

if [[ ! -s $BUSYBOX_TAR ]]; then
    say "busybox rootfs: building $BUSYBOX_TAR"
    work=$(mktemp -d "$CACHE/busybox.XXXXXX")
    root=$work/rootfs
    mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,var/www,proc,sys,dev}
    chmod 1777 "$root/tmp"
    cp /bin/busybox "$root/bin/busybox"
    while read -r applet; do
        [[ $applet == bin/busybox ]] && continue
        mkdir -p "$root/$(dirname "$applet")"
        ln -sf /bin/busybox "$root/$applet"
    done < <("$root/bin/busybox" --list-full)
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
    tar --numeric-owner -C "$root" -cf "$work/rootfs.tar" .
    mv "$work/rootfs.tar" "$BUSYBOX_TAR"
    rm -rf "$work"
else
    say "busybox rootfs: cached"
fi

if [[ ! -s $SYSTEMD_TZST ]]; then
    mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    mirror=${mirror:-http://deb.debian.org/debian}
    say "systemd rootfs: debootstrap bookworm from $mirror (about 40 s)"
    work=$(mktemp -d "$CACHE/systemd.XXXXXX")
    root=$work/rootfs
    debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,cron \
        bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
        tail -n 20 "$work/debootstrap.log" >&2
        rm -rf "$work"
        exit 1
    }
    for unit in "${NOISE_UNITS[@]}"; do
        ln -sf /dev/null "$root/etc/systemd/system/$unit"
    done
    # cron logs each job's start, end and a non-zero exit status (Debian's -L levels 1+2+4+8)
    printf "EXTRA_OPTS='-L 15'\n" >>"$root/etc/default/cron"
    mkdir -p "$root/usr/local/lib/systemd/system" "$root/var/log/journal"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar --numeric-owner -C "$root" -cf - . | zstd -q -T0 -3 -o "$work/rootfs.tar.zst"
    mv "$work/rootfs.tar.zst" "$SYSTEMD_TZST"
    rm -rf "$work"
else
    say "systemd rootfs: cached"
fi

say "done"
