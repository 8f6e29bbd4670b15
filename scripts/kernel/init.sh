#!/bin/sh
# /init of the kernel-oracle initramfs (built by test/helpers/kernel.ts). Loads the modules listed
# in /modules.order, gives each virtio disk a stable node /dev/lsN from its serial "lsN", mounts
# each job of the plan read-only as EROFS, prints the tree with /bin/lsx (or a busybox-only walk
# when the initramfs has no lsx) to the output disk (serial "lsout": a serial port under TCG moves
# ~100 KB/s, a disk is instant), then powers off. Messages before the disks exist go to the console.
#
# Kernel command line (unknown name=value parameters reach init as environment variables):
#   lsdisks=N                 number of disks to wait for (serials ls0 .. ls<N-2> and lsout)
#   lsplan=J;J;...            jobs, each "<disk>:<mount options>", e.g. "0:ro" or "1:ro,device=/dev/ls2"
#   lsmaxhash=BYTES           hash at most the first BYTES of a file (then "~<sha256>")
# Output lines, each starting with "@@LS-" (text up to the first NUL on the output disk):
#   BOOT / BEGIN <job> / L <lsx line> / MOUNTFAIL <job> <rc> / DMESG <text> / END <job> <rc> / DONE
export PATH=/bin
set -o pipefail
mkdir -p /proc /sys /dev /mnt /tmp
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
# keep kernel chatter off the console; mount errors are fetched with dmesg instead
echo 1 > /proc/sys/kernel/printk

say() { echo "@@LS-$*" >&3; }
exec 3>/dev/console
bye() {
  exec 3>&-
  sync
  poweroff -f
  reboot -f
}

say BOOT
for m in $(cat /modules.order); do
  insmod "/lib/modules/$m" 2>/tmp/insmod.err || { say "FATAL insmod $m: $(cat /tmp/insmod.err)"; bye; }
done

# wait for the disks (virtio probing is asynchronous), then make /dev/lsN by serial
want=${lsdisks:-0}
i=0
while :; do
  n=0
  for b in /sys/block/vd*; do [ -e "$b/serial" ] && n=$((n + 1)); done
  [ "$n" -ge "$want" ] && break
  i=$((i + 1))
  if [ $i -gt 600 ]; then say "FATAL only $n of $want disks appeared"; bye; fi
  sleep 0.1
done
for b in /sys/block/vd*; do
  [ -e "$b/serial" ] || continue
  s=$(cat "$b/serial")
  mm=$(cat "$b/dev")
  mknod "/dev/$s" b "${mm%%:*}" "${mm##*:}"
done
[ -b /dev/lsout ] || { say "FATAL no output disk"; bye; }
exec 3>/dev/lsout

# busybox-only walk: no xattrs ("?"), dirent types unknown ("?"), same line format as lsx
hexof() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }
bbwalk() {
  root=$1
  echo "S $(stat -f -c '%S %b %c %d %l' "$root")"
  count=0
  find "$root" | while IFS= read -r p; do
    rel=${p#"$root"}
    rel=${rel#/}
    if [ -z "$rel" ]; then hp=-; else hp=$(hexof "$rel"); fi
    set -- $(stat -c '%i %f %u %g %s %h %t %T' "$p")
    ino=$1 mode=$((0x$2)) uid=$3 gid=$4 size=$5 nlink=$6 maj=$((0x$7)) min=$((0x$8))
    y=$(stat -c '%y' "$p")
    ns=${y#*.}
    ns=${ns%% *}
    sec=$(stat -c '%Y' "$p")
    case $((mode & 0170000)) in
      $((0100000))) t=reg ;; $((0040000))) t=dir ;; $((0120000))) t=symlink ;;
      $((0020000))) t=chr ;; $((0060000))) t=blk ;; $((0010000))) t=fifo ;; $((0140000))) t=sock ;;
      *) t='?' ;;
    esac
    tgt=- sha=-
    [ $t = symlink ] && tgt=$(hexof "$(readlink "$p")")
    if [ $t = reg ]; then
      if [ -n "$lsmaxhash" ] && [ "$size" -gt "$lsmaxhash" ]; then
        sha=$(head -c "$lsmaxhash" "$p" | sha256sum) && sha="~$sha" || sha='!5'
      else
        sha=$(sha256sum < "$p" 2>/dev/null) || sha='!5'
      fi
      sha=${sha%% *}
    fi
    [ "$hp" = - ] && dt=- || dt='?'
    echo "E $hp $ino $t $(printf %o $mode) $uid $gid $size $nlink $sec.$ns $maj:$min $dt $tgt $sha ?"
    count=$((count + 1))
    echo "$count" > /tmp/count
  done
  echo "T $(cat /tmp/count 2>/dev/null || echo 0)"
}

job=0
IFS=';'
set -f
for spec in $lsplan; do
  IFS=' '
  disk=${spec%%:*}
  opts=${spec#*:}
  dir=/mnt/$job
  mkdir -p $dir
  say "BEGIN $job"
  dmesg -c > /dev/null
  if mount -t erofs -o "$opts" "/dev/ls$disk" $dir 2>/tmp/mount.err; then
    if [ -x /bin/lsx ]; then
      /bin/lsx ${lsmaxhash:+-m $lsmaxhash} $dir | sed 's/^/@@LS-L /' >&3
    else
      bbwalk $dir | sed 's/^/@@LS-L /' >&3
    fi
    rc=$?
    umount $dir
  else
    rc=$?
    say "MOUNTFAIL $job $rc $(cat /tmp/mount.err)"
    dmesg | tail -n 20 | sed 's/^/@@LS-DMESG /' >&3
  fi
  say "END $job $rc"
  job=$((job + 1))
  IFS=';'
done
say DONE
bye
