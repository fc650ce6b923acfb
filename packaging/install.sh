#!/usr/bin/env bash
# Installs rtbox as a systemd service on a Debian/Ubuntu host without the .deb:
# the binary in /usr/local/bin, the unit in /etc/systemd/system, settings in
# /etc/rtbox/rtbox.toml, data in /var/lib/rtbox, run by the system user `rtbox`.
# Then it starts the service and prints the first-run setup link. Running it again
# upgrades the binary and restarts the service; your settings and data are kept.
#
#   sudo packaging/install.sh                       # the binary from target/release/rtbox
#   sudo packaging/install.sh --binary ./rtbox --public-url https://rt.example.com
#   sudo packaging/install.sh --uninstall           # keeps the data and the user
#   sudo packaging/install.sh --uninstall --purge   # removes everything it added
#
# --root DIR installs into DIR instead of / (users go to DIR/etc/passwd, which must exist;
# nothing is started) — for tests and image builds.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: install.sh [--binary PATH] [--public-url URL] [--bind HOST:PORT] [--no-start] [--root DIR]
       install.sh --uninstall [--purge] [--root DIR]

  --binary PATH      rtbox binary to install [default: target/release/rtbox of this checkout, else ./rtbox]
  --public-url URL   address users reach rtbox at (written to a new rtbox.toml; used in links)
  --bind HOST:PORT   listen address (written to a new rtbox.toml) [default: 0.0.0.0:8080]
  --no-start         install only; do not enable or start the service
  --root DIR         install into DIR instead of / (no service is started)
  --uninstall        stop the service and remove the binary, the unit and an unchanged config;
                     the data in /var/lib/rtbox and the user are kept
  --purge            with --uninstall: also remove the data, the config and the user
EOF
}

die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "rtbox: $*"; }

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
binary=""
public_url=""
bind=""
start=1
root=""
action=install
purge=0
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) binary=${2:?--binary needs a path}; shift 2 ;;
        --public-url) public_url=${2:?--public-url needs a URL}; shift 2 ;;
        --bind) bind=${2:?--bind needs HOST:PORT}; shift 2 ;;
        --no-start) start=0; shift ;;
        --root) root=${2:?--root needs a directory}; shift 2 ;;
        --uninstall) action=uninstall; shift ;;
        --purge) purge=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
done
if [ -n "$root" ]; then
    [ -d "$root" ] || die "--root $root is not a directory"
    root=$(cd "$root" && pwd)
    start=0
fi
[ "$purge" = 1 ] && [ "$action" != uninstall ] && die "--purge goes with --uninstall"
[ "$(id -u)" -eq 0 ] || die "run me as root (sudo $0 …)"

BIN=/usr/local/bin/rtbox
UNIT=/etc/systemd/system/rtbox.service
CONF_DIR=/etc/rtbox
CONF=$CONF_DIR/rtbox.toml
DATA=/var/lib/rtbox
# What this script created, so --uninstall removes exactly that. Kept in the data dir,
# which outlives a plain --uninstall.
MANIFEST=$DATA/.installed-by-install-sh

prefix_args=()
[ -n "$root" ] && prefix_args=(--prefix "$root")
systemd_here() { [ -z "$root" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }
passwd_has() { grep -q "^$2:" "$root/etc/$1" 2>/dev/null; }
id_of() { awk -F: -v n="$2" '$1 == n { print $3 }' "$root/etc/$1"; }
manifest_has() { grep -qx "$1" "$root$MANIFEST" 2>/dev/null; }
manifest_add() { manifest_has "$1" || echo "$1" >> "$root$MANIFEST"; }
sha() { sha256sum "$1" | awk '{ print $1 }'; }
# Creates a directory (under the root) and each missing parent, recording the ones it made.
make_dir() {
    local missing=() d=$1
    while [ "$d" != / ] && [ ! -d "$root$d" ]; do
        missing=("$d" "${missing[@]}")
        d=$(dirname "$d")
    done
    for d in "${missing[@]}"; do
        mkdir "$root$d"
        [ "$d" = "$DATA" ] || [ ! -f "$root$MANIFEST" ] || manifest_add "dir $d"
        created_dirs+=("$d")
    done
}
created_dirs=()
# Removes the directories this script created (manifest text in $1), deepest first,
# where they are empty.
remove_dirs() {
    grep '^dir ' <<<"$1" | cut -c5- | sort -r | while read -r d; do
        rmdir "$root$d" 2>/dev/null || true
    done
}

uninstall() {
    local manifest
    manifest=$(cat "$root$MANIFEST" 2>/dev/null || true)
    if systemd_here; then
        systemctl disable --now rtbox.service >/dev/null 2>&1 || true
    fi
    rm -f "$root$BIN" "$root$UNIT"
    if systemd_here; then systemctl daemon-reload || true; fi
    if [ -f "$root$CONF" ]; then
        if [ "$purge" = 1 ] || { [ -f "$root$MANIFEST" ] && manifest_has "config $(sha "$root$CONF")"; }; then
            rm -f "$root$CONF"
        else
            say "kept $CONF (you changed it); delete it yourself if you are done with it"
        fi
    fi
    rmdir "$root$CONF_DIR" 2>/dev/null || true
    if [ "$purge" = 1 ]; then
        local created_user=0 created_group=0
        manifest_has "user rtbox" && created_user=1
        manifest_has "group rtbox" && created_group=1
        if grep -qx "data-dir $DATA" <<<"$manifest"; then
            rm -rf -- "${root}${DATA:?}"
        else
            # Not ours (e.g. the .deb made it): only our note goes.
            rm -f "$root$MANIFEST"
            say "kept $DATA: it existed before install.sh"
        fi
        remove_dirs "$manifest"
        if [ "$created_user" = 1 ] && passwd_has passwd rtbox; then userdel "${prefix_args[@]}" rtbox; fi
        if [ "$created_group" = 1 ] && passwd_has group rtbox; then groupdel "${prefix_args[@]}" rtbox; fi
        say "removed rtbox, its settings, its data and its user"
    else
        remove_dirs "$manifest"
        say "removed rtbox; the data in $DATA and the user 'rtbox' are kept (--uninstall --purge removes them)"
    fi
}

find_binary() {
    if [ -n "$binary" ]; then
        [ -f "$binary" ] || die "no file at $binary"
    elif [ -x "$script_dir/../target/release/rtbox" ]; then
        binary="$script_dir/../target/release/rtbox"
    elif [ -x ./rtbox ]; then
        binary=./rtbox
    else
        die "no rtbox binary: build one (cargo build --release) or pass --binary PATH"
    fi
    [ -x "$binary" ] || die "$binary is not executable"
    "$binary" version >/dev/null 2>&1 || die "$binary does not run here (wrong architecture?)"
}

install_files() {
    [ -f "$script_dir/rtbox.service" ] && [ -f "$script_dir/rtbox.toml" ] ||
        die "rtbox.service and rtbox.toml must sit next to this script (packaging/ of the repository)"
    if [ -n "$root" ]; then
        [ -f "$root/etc/passwd" ] && [ -f "$root/etc/group" ] || die "--root $root needs etc/passwd and etc/group"
    fi
    make_dir "$DATA"
    touch "$root$MANIFEST"
    chmod 0600 "$root$MANIFEST"
    # Parents made before the manifest existed.
    local d
    for d in "${created_dirs[@]}"; do
        if [ "$d" = "$DATA" ]; then manifest_add "data-dir $DATA"; else manifest_add "dir $d"; fi
    done

    if ! passwd_has group rtbox; then
        groupadd "${prefix_args[@]}" --system rtbox
        manifest_add "group rtbox"
    fi
    if ! passwd_has passwd rtbox; then
        useradd "${prefix_args[@]}" --system --gid rtbox --home-dir "$DATA" --no-create-home \
            --shell /usr/sbin/nologin --comment "rtbox realtime server" rtbox
        manifest_add "user rtbox"
    fi
    local uid gid
    uid=$(id_of passwd rtbox)
    gid=$(id_of group rtbox)
    chown "$uid:$gid" "$root$DATA"
    chmod 0750 "$root$DATA"

    make_dir "$(dirname "$BIN")"
    install -m 0755 "$binary" "$root$BIN"
    make_dir "$(dirname "$UNIT")"
    sed "s#^ExecStart=/usr/bin/rtbox #ExecStart=$BIN #" "$script_dir/rtbox.service" > "$root$UNIT.tmp"
    chmod 0644 "$root$UNIT.tmp"
    mv "$root$UNIT.tmp" "$root$UNIT"

    if [ -f "$root$CONF" ]; then
        say "kept your $CONF"
        if [ -n "$public_url$bind" ]; then
            say "--public-url/--bind only apply to a new config; edit $CONF instead"
        fi
    else
        make_dir "$CONF_DIR"
        local tmp="$root$CONF.tmp"
        cp "$script_dir/rtbox.toml" "$tmp"
        if [ -n "$bind" ]; then
            sed -i "s#^bind = .*#bind = \"$bind\"#" "$tmp"
        fi
        if [ -n "$public_url" ]; then
            sed -i "s%^# public_url = .*%public_url = \"$public_url\"%" "$tmp"
        fi
        chown "0:$gid" "$tmp"
        chmod 0640 "$tmp"
        mv "$tmp" "$root$CONF"
        manifest_add "config $(sha "$root$CONF")"
    fi

    # The settings must load; anything else doctor finds is advice, shown as it is.
    local report
    report=$("$root$BIN" --config "$root$CONF" --data-dir "$root$DATA" doctor 2>&1) || true
    if grep -q '^FAIL  settings' <<<"$report"; then
        echo "$report" >&2
        die "the settings in $CONF are invalid (see above)"
    fi
    grep -A1 -E '^(WARN|FAIL)' <<<"$report" || true
    say "installed $("$root$BIN" version)"
}

start_service() {
    if [ "$start" = 0 ]; then
        say "not started. Start it with: systemctl enable --now rtbox"
        return
    fi
    if ! systemd_here; then
        say "systemd is not running here; start rtbox in the foreground with:"
        echo "  sudo -u rtbox RTBOX_DATA_DIR=$DATA RTBOX_CONFIG=$CONF $BIN serve"
        return
    fi
    local since
    since=$(date '+%Y-%m-%d %H:%M:%S')
    systemctl daemon-reload
    systemctl enable rtbox.service >/dev/null 2>&1
    systemctl restart rtbox.service
    local link="" listening="" i
    for i in $(seq 1 40); do
        link=$(journalctl -u rtbox --since "$since" -o cat --no-pager 2>/dev/null | grep -o 'http[^ ]*/admin/#/setup?token=[^ ]*' | tail -n 1 || true)
        listening=$(journalctl -u rtbox --since "$since" -o cat --no-pager 2>/dev/null | grep -m1 '^rtbox listening on' || true)
        [ -n "$link" ] || [ -n "$listening" ] && break
        sleep 0.5
    done
    if [ -n "$link" ]; then
        say "running. Create the first admin at:"
        echo "  $link"
        case "$link" in
            http://127.0.0.1:*)
                local addr
                addr=$(hostname -I 2>/dev/null | awk '{ print $1 }')
                [ -n "$addr" ] && echo "  (from another machine: ${link/http:\/\/127.0.0.1:/http://$addr:})"
                say "set public_url in $CONF so links carry the right address"
                ;;
        esac
    elif [ -n "$listening" ]; then
        say "running ($listening); an admin already exists — sign in at /admin/"
    else
        systemctl --no-pager status rtbox.service >&2 || true
        die "the service did not come up; see: journalctl -u rtbox"
    fi
}

case "$action" in
    uninstall) uninstall ;;
    install) find_binary; install_files; start_service ;;
esac
