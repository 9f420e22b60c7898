#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages vmscope needs, only those missing: `build` or `test`.
set -euo pipefail

build_pkgs=(gcc make pkg-config clang llvm libbpf-dev libelf-dev zlib1g-dev libncurses-dev
	libpcap-dev liburing-dev libjansson-dev libmicrohttpd-dev libunicorn-dev binutils)
# The hardware lane boots a Debian kernel under QEMU's TCG; the CLI tests drive a terminal.
test_pkgs=(qemu-system-x86 busybox-static cpio xz-utils jq tmux util-linux kmod iproute2 iputils-ping tcpdump socat prometheus curl
	libclang-rt-dev clang-format shellcheck linux-perf mandoc man-db asciinema)

want=("${build_pkgs[@]}")
[ "${1:-build}" = test ] && want+=("${test_pkgs[@]}")
# bpftool is its own package on Debian; Ubuntu ships it in linux-tools.
if ! command -v bpftool >/dev/null && [ ! -x /usr/sbin/bpftool ]; then
	if apt-cache show bpftool >/dev/null 2>&1; then want+=(bpftool)
	else want+=(linux-tools-common "linux-tools-$(uname -r)"); fi
fi

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "vmscope: missing packages (${missing[*]}); run the same command with sudo to install them" >&2
	exit 1
fi
echo "vmscope: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
