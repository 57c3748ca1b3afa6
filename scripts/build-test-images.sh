#!/usr/bin/env bash
# Builds the images the tests and the lab use, from Debian's busybox-static,
# without any registry: a tiny root filesystem imported with `docker import`.
#   bicycle/busybox:test   sh, sleep, httpd, nc, ... (busybox applets), and two small servers' scripts:
#     /www/cgi-bin/whoami  (httpd CGI) answers `host=<container host name> client=<the address the request came from>`
#     /bin/proxy-echo      (for `nc -ll -p PORT -e proxy-echo`) answers `host=<name> first=<the first 28 bytes it got, hex>`:
#                          a PROXY protocol header shows there
# Usage: scripts/build-test-images.sh [docker-host]   (default: the local engine)
set -euo pipefail
busybox=${BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || { echo "build-test-images: $busybox not found (apt-get install busybox-static)" >&2; exit 1; }
docker_args=()
[ -n "${1:-}" ] && docker_args=(-H "$1")

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,www,proc,sys,dev,root}
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -sf /bin/busybox "$root/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$root/etc/passwd"
echo 'root:x:0:' > "$root/etc/group"
echo 'bicycle test page' > "$root/www/index.html"
mkdir -p "$root/www/cgi-bin"
cat > "$root/www/cgi-bin/whoami" <<'SCRIPT'
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\nhost=%s client=%s\n' "$(hostname)" "$REMOTE_ADDR"
SCRIPT
cat > "$root/bin/proxy-echo" <<'SCRIPT'
#!/bin/sh
first=$(head -c 28 | od -An -tx1 | tr -d ' \n')
printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhost=%s first=%s\n' "$(hostname)" "$first"
SCRIPT
chmod 755 "$root/www/cgi-bin/whoami" "$root/bin/proxy-echo"
chmod 1777 "$root/tmp"
tar -C "$root" -c . | docker "${docker_args[@]}" import \
  -c 'ENV PATH=/bin:/sbin:/usr/bin:/usr/sbin' -c 'CMD ["sh"]' - bicycle/busybox:test >/dev/null
echo "built bicycle/busybox:test"
