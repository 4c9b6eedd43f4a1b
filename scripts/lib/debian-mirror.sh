# Prints the Debian mirror this host already uses (from its apt sources), so nothing in the repo names a
# mirror host. Sourced by the scripts that unpack Debian 13 packages.
debian_mirror() {
    local uri
    uri=$(grep -hE '^\s*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
          | awk '{print $2}' | grep -v -- '-security' | head -n 1)
    if [ -z "$uri" ]; then
        uri=$(grep -hE '^\s*deb\s' /etc/apt/sources.list 2>/dev/null \
              | awk '{print $2}' | grep -v -- '-security' | head -n 1)
    fi
    if [ -z "$uri" ]; then
        echo "error: no Debian mirror found in /etc/apt/sources*; add one to apt's sources and retry" >&2
        return 1
    fi
    echo "${uri%/}"
}
