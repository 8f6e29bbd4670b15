#!/usr/bin/env bash
# Installs the Debian packages the tests use as oracles, when missing (CI and fresh machines run as root).
set -euo pipefail
need=()
command -v mkfs.erofs >/dev/null || need+=(erofs-utils)
command -v setfattr >/dev/null || need+=(attr)
command -v fsverity >/dev/null || need+=(fsverity)
command -v lz4 >/dev/null || need+=(lz4)
command -v zstd >/dev/null || need+=(zstd)
# OCI images for the oci-* tests (test/helpers/oci.ts): made by umoci, copied between layouts by skopeo
command -v umoci >/dev/null || need+=(umoci)
command -v skopeo >/dev/null || need+=(skopeo)
[ -x /usr/bin/chromium ] || need+=(chromium)
# the kernel oracle (test/helpers/kernel.ts): QEMU, a kernel with erofs, a static busybox for its initramfs
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
compgen -G '/boot/vmlinuz-*-cloud-amd64' >/dev/null || need+=(linux-image-cloud-amd64)
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || need+=(busybox-static)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "missing Debian packages: ${need[*]} (run as root, or: sudo apt-get install -y ${need[*]})" >&2
  exit 1
fi
echo "installing Debian packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${need[@]}" >/dev/null
