#!/usr/bin/env bash
# Builds the root filesystem of the test systemd (Debian 12: systemd 252 as PID 1, dbus,
# sshd) with debootstrap, and imports it as a Docker image. Adapted from the recipe that
# was tried on these machines. The rootfs is cached between runs on the same machine.
#   ROOTFS (default /var/cache/waymond/systemd-rootfs), IMAGE (default waymond-test/systemd:bookworm)
set -euo pipefail
ROOTFS=${ROOTFS:-/var/cache/waymond/systemd-rootfs}
IMAGE=${IMAGE:-waymond-test/systemd:bookworm}
# A change to this script rebuilds the rootfs and the image (its hash is their stamp).
STAMP=$(sha256sum "$0" | cut -c1-16)
MIRROR=${MIRROR:-$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || echo http://deb.debian.org/debian)}

if [ "$(cat "$ROOTFS/.waymond-complete" 2>/dev/null)" != "$STAMP" ]; then
  rm -rf "$ROOTFS.tmp"
  mkdir -p "$(dirname "$ROOTFS")"
  debootstrap --variant=minbase \
    --include=systemd,systemd-sysv,dbus,openssh-server,procps \
    bookworm "$ROOTFS.tmp" "$MIRROR"
  R=$ROOTFS.tmp
  echo waymond-sd > "$R/etc/hostname"
  : > "$R/etc/machine-id" # systemd generates one at first boot
  # Units that make no sense in a container, or hang there.
  for u in getty@tty1.service console-getty.service systemd-udevd.service systemd-udev-trigger.service \
    systemd-modules-load.service sys-kernel-debug.mount sys-kernel-tracing.mount \
    systemd-remount-fs.service systemd-logind.service apt-daily.timer apt-daily-upgrade.timer \
    e2scrub_reap.service systemd-firstboot.service; do
    ln -sf /dev/null "$R/etc/systemd/system/$u"
  done
  # sshd: key-only root login; the key and the template units are put in by the tests.
  mkdir -p "$R/root/.ssh" && chmod 700 "$R/root/.ssh"
  sed -i 's/^#\?PermitRootLogin.*/PermitRootLogin prohibit-password/' "$R/etc/ssh/sshd_config"
  chroot "$R" apt-get clean
  rm -rf "$R"/var/lib/apt/lists/*
  echo "$STAMP" > "$R/.waymond-complete"
  rm -rf "$ROOTFS" && mv "$R" "$ROOTFS"
fi

if [ "$(docker image inspect -f '{{ index .Config.Labels "waymond.rootfs" }}' "$IMAGE" 2>/dev/null)" != "$STAMP" ]; then
  tar -C "$ROOTFS" --numeric-owner --exclude=./.waymond-complete -c . | docker import \
    --change 'ENV container=docker' \
    --change "LABEL waymond.rootfs=$STAMP" \
    --change 'CMD ["/lib/systemd/systemd"]' - "$IMAGE" >/dev/null
fi
