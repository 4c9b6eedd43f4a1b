# shellcheck shell=bash
# Downloads Debian 13 (trixie) packages and unpacks them into a folder, without installing anything on the
# host: `apt-get download` + `dpkg -x` under a private apt configuration (own sources list, state and cache
# under the given folder), so the host's apt lists and dpkg database are never touched. Dependencies are
# not resolved: name every package you need. Sourced by scripts that cache Debian 13 tools; needs
# debian-mirror.sh sourced first.
#
#   debian_unpack CACHE_DIR ROOT PACKAGE…   download PACKAGE… into CACHE_DIR/apt and unpack them into ROOT
#                                           (replaced atomically: ROOT.tmp, then renamed); returns non-zero
#                                           with a message on stderr when something fails
DEBIAN_UNPACK_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

debian_unpack() {
    local cache=$1 root=$2; shift 2
    local packages=("$@") mirror apt tmp deb
    if ! command -v apt-get >/dev/null || ! command -v dpkg >/dev/null; then
        echo "error: apt-get and dpkg are needed (Debian/Ubuntu host)" >&2; return 1
    fi
    [ -r "$DEBIAN_UNPACK_KEYRING" ] \
        || { echo "error: $DEBIAN_UNPACK_KEYRING is missing; install the debian-archive-keyring package" >&2; return 1; }
    mirror=$(debian_mirror) || return 1
    apt="$cache/apt"
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/sources.list.d" "$apt/preferences.d"
    : > "$apt/status"
    echo "deb [signed-by=$DEBIAN_UNPACK_KEYRING] $mirror trixie main" > "$apt/sources.list"
    # Every Dir:: that apt would otherwise read from the host points into the cache folder; the empty
    # status file makes apt resolve against nothing installed. Sandbox user root: _apt cannot write here.
    local opts=(
        -o "Dir::Etc::sourcelist=$apt/sources.list" -o "Dir::Etc::sourceparts=$apt/sources.list.d"
        -o "Dir::Etc::preferences=$apt/preferences" -o "Dir::Etc::preferencesparts=$apt/preferences.d"
        -o "Dir::State=$apt" -o "Dir::State::lists=$apt/lists" -o "Dir::State::status=$apt/status"
        -o "Dir::Cache=$apt/cache" -o "APT::Sandbox::User=root" -o "Debug::NoLocking=1"
        -o "Acquire::Languages=none"
    )
    echo "downloading ${packages[*]} (Debian 13) into $cache …" >&2
    apt-get "${opts[@]}" -qq update >&2 \
        || { echo "error: apt-get update (private trixie sources, mirror $mirror) failed; see above" >&2; return 1; }
    tmp="$cache/download.$$"
    rm -rf "$tmp" "$root.tmp"; mkdir -p "$tmp" "$root.tmp"
    if ! (cd "$tmp" && apt-get "${opts[@]}" -qq download "${packages[@]}" >&2); then
        rm -rf "$tmp" "$root.tmp"
        echo "error: apt-get download ${packages[*]} failed; see above" >&2
        return 1
    fi
    for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$root.tmp"; done
    rm -rf "$tmp" "$root"
    mv "$root.tmp" "$root"
}
