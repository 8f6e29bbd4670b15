#!/usr/bin/env bash
# Rebuilds the sample EROFS images in public/samples/ from a small generated tree.
# Reproducible: fixed tree content and modes, fixed -T (timestamp) and -U (UUID), --all-root.
# Needs mkfs.erofs (erofs-utils 1.5), setfattr and node. Usage: scripts/make-samples.sh [outdir]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-public/samples}
mkdir -p "$out"
umask 022

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
t="$work/tree"
mkdir -p "$t"/etc/app "$t"/usr/bin "$t"/usr/share/doc/demo "$t"/data "$t"/var/log "$t"/deep/a/b/c/d

cat >"$t/README.md" <<'EOF'
# Layerscope sample image

A small tree for trying the inspector: text files, a binary, nested directories,
symlinks, a hardlink, a fifo, an xattr, an empty directory, an empty file and a
file name that is not valid UTF-8.
EOF
cat >"$t/etc/os-release" <<'EOF'
PRETTY_NAME="Layerscope Sample 1.0"
NAME="Layerscope Sample"
VERSION_ID="1.0"
ID=layerscope-sample
EOF
cat >"$t/etc/app/config.toml" <<'EOF'
[server]
listen = "127.0.0.1:8080"
workers = 4

[storage]
path = "/var/lib/app"
compress = "lz4"
EOF
printf 'café ☕ — naïve façade, Grüße, 日本語のテキスト\n' >"$t/utf8 名前.txt"
printf 'spaces in the name\n' >"$t/name with spaces.txt"
printf 'latin-1 encoded name\n' >"$t/$(printf 'caf\xe9.txt')"
: >"$t/data/empty"

# Deterministic binary content (xorshift32), so the images are byte-identical on every run.
node -e '
const fs = require("fs");
let x = 0x2545f491;
const rnd = () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x & 0xff; };
const bin = Buffer.alloc(3000);
Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]).copy(bin, 0);
for (let i = 64; i < bin.length; i++) bin[i] = rnd();
Buffer.from("Hello from a sample binary\0").copy(bin, 1024);
fs.writeFileSync(process.argv[1] + "/usr/bin/hello", bin);
const r = Buffer.alloc(8192);
for (let i = 0; i < r.length; i++) r[i] = rnd();
fs.writeFileSync(process.argv[1] + "/data/random.bin", r);
const lines = [];
for (let i = 1; lines.join("\n").length < 150000; i++)
  lines.push(`${String(i).padStart(5, "0")}  release note line ${i}: fixed item #${(i * 7919) % 10007}, touched ${["erofs", "composefs", "rafs"][i % 3]}`);
fs.writeFileSync(process.argv[1] + "/usr/share/doc/demo/changelog.txt", lines.join("\n") + "\n");
' "$t"

ln -s hello "$t/usr/bin/hi"
ln -s ../README.md "$t/etc/readme-link"
ln -s /nonexistent/target "$t/data/dangling"
ln "$t/README.md" "$t/data/README.hardlink"
mkfifo "$t/data/fifo"
printf 'deep file\n' >"$t/deep/a/b/c/d/leaf.txt"
setfattr -n user.comment -v 'made by make-samples.sh' "$t/README.md"

find "$t" -type d -exec chmod 0755 {} +
find "$t" -type f -exec chmod 0644 {} +
chmod 0755 "$t/usr/bin/hello"
chmod 0600 "$t/etc/app/config.toml"
chmod 0644 "$t/data/fifo"

opts=(-T 1700000000 -U 4c617965-7273-636f-7065-000000000001 --all-root --quiet)
mkfs.erofs "${opts[@]}" "$out/sample.erofs" "$t" >/dev/null
mkfs.erofs "${opts[@]}" -zlz4hc "$out/sample-lz4hc.erofs" "$t" >/dev/null
fsck.erofs "$out/sample.erofs" >/dev/null
fsck.erofs "$out/sample-lz4hc.erofs" >/dev/null
ls -l "$out"/*.erofs

# Nydus RAFS samples: small fixtures of the Nydus project, copied unchanged with their licenses
# (see public/samples/nydus/README.md). Skipped when ../shared/fixtures is not beside the checkout.
N=${NYDUS_FIXTURES:-../shared/fixtures/nydus}
[ -d "$N" ] || N=/work/shared/fixtures/nydus
if [ -d "$N" ]; then
  d="$out/nydus"
  mkdir -p "$d"
  cp "$N/git-history/2378d074-2020-01-20/tests/texture/repeatable/blake3-lz4_block-non_repeatable" "$d/rafs-v5-lz4.boot"
  cp "$N/tests/texture/repeatable/blobs/d7b86b1e74e316fe945741d1a9fa1b271459fe41481e304977659e0c6ecf56ac" "$d/"
  cp "$N/tests/texture/bootstrap/rafs-v6-2.2.boot" "$d/rafs-v6-zstd.boot"
  cp "$N/tests/texture/blobs/be7d77eeb719f70884758d1aa800ed0fb09d701aaec469964e9d54325f0d5fef" "$d/"
  cp "$N/tests/texture/toc/2fa78cad554b75ac91a4a125ed148d0ddeb25efa4aaa8bd80e5dc292690a4dca" "$d/inline-bootstrap.blob"
  cp "$N/LICENSE-APACHE" "$N/LICENSE-BSD-3-Clause" "$d/"
  chmod u+w "$d"/*
fi
