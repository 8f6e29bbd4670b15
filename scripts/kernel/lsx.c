/*
 * lsx [-m MAX] ROOT: print what the kernel shows of the tree under ROOT, one ASCII line per entry, for the
 * kernel test oracle (test/helpers/kernel.ts). Runs inside the test VM; compiled at test time with
 * `gcc -static` and shipped in the cached initramfs. Every byte string (paths, symlink targets,
 * xattr names and values) is hex, so odd names cannot break a line.
 *
 *   S <f_bsize> <f_blocks> <f_files> <f_ffree> <f_namelen>
 *   E <path> <ino> <type> <mode-octal> <uid> <gid> <size> <nlink> <sec>.<nsec9> <major>:<minor>
 *     <dirent-type> <target|-> <sha256|-> <xattrs|->
 *   D <path> !<errno>          (opendir or readdir of a directory failed)
 *   T <number of E lines>
 *
 * <path> is the hex of the components joined with "/" ("-" for the root), entries come depth-first
 * in readdir order. <xattrs> is "name=value,..." in listxattr order. A failed operation puts
 * "!<errno>" in its field (for an xattr: "name=!<errno>"), so the comparer sees the failure.
 * A regular file larger than MAX bytes (-m; default: no limit) gets "~<sha256 of its first MAX
 * bytes>" instead, so sparse files of petabytes (composefs) do not take forever.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

/* SHA-256 (FIPS 180-4) */
static const uint32_t K[64] = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

struct sha { uint32_t h[8]; uint8_t buf[64]; uint64_t len; };

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha_block(struct sha *s, const uint8_t *p) {
  uint32_t w[64], a, b, c, d, e, f, g, h;
  for (int i = 0; i < 16; i++) w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
  for (int i = 16; i < 64; i++) {
    uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  a = s->h[0]; b = s->h[1]; c = s->h[2]; d = s->h[3]; e = s->h[4]; f = s->h[5]; g = s->h[6]; h = s->h[7];
  for (int i = 0; i < 64; i++) {
    uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
    uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
  }
  s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d; s->h[4] += e; s->h[5] += f; s->h[6] += g; s->h[7] += h;
}

static void sha_init(struct sha *s) {
  static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
  memcpy(s->h, iv, sizeof iv);
  s->len = 0;
}

static void sha_update(struct sha *s, const uint8_t *p, size_t n) {
  size_t fill = s->len % 64;
  s->len += n;
  if (fill) {
    size_t k = 64 - fill < n ? 64 - fill : n;
    memcpy(s->buf + fill, p, k);
    p += k; n -= k;
    if (fill + k < 64) return;
    sha_block(s, s->buf);
  }
  for (; n >= 64; p += 64, n -= 64) sha_block(s, p);
  memcpy(s->buf, p, n);
}

static void sha_final(struct sha *s, char out[65]) {
  uint64_t bits = s->len * 8;
  uint8_t pad[72] = { 0x80 };
  size_t fill = s->len % 64, padlen = fill < 56 ? 56 - fill : 120 - fill;
  for (int i = 0; i < 8; i++) pad[padlen + i] = (uint8_t)(bits >> (56 - 8 * i));
  sha_update(s, pad, padlen + 8);
  for (int i = 0; i < 8; i++) sprintf(out + 8 * i, "%08x", s->h[i]);
}

static void hex(const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++) printf("%02x", b[i]);
}

static const char *type_of(mode_t m) {
  switch (m & S_IFMT) {
  case S_IFREG: return "reg";
  case S_IFDIR: return "dir";
  case S_IFLNK: return "symlink";
  case S_IFCHR: return "chr";
  case S_IFBLK: return "blk";
  case S_IFIFO: return "fifo";
  case S_IFSOCK: return "sock";
  }
  return "?";
}

static const char *dtype_of(unsigned char t) {
  switch (t) {
  case DT_REG: return "reg";
  case DT_DIR: return "dir";
  case DT_LNK: return "symlink";
  case DT_CHR: return "chr";
  case DT_BLK: return "blk";
  case DT_FIFO: return "fifo";
  case DT_SOCK: return "sock";
  }
  return "?";
}

static char *root;
static size_t rootlen;
static unsigned long count;
static uint8_t iobuf[1 << 20];
static unsigned long long maxhash = ~0ULL;

static void content(const char *path, unsigned long long size) {
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) { printf("!%d", errno); return; }
  struct sha s;
  sha_init(&s);
  unsigned long long left = maxhash;
  for (; left > 0;) {
    ssize_t n = read(fd, iobuf, left < sizeof iobuf ? left : sizeof iobuf);
    if (n < 0) { if (errno == EINTR) continue; printf("!%d", errno); close(fd); return; }
    if (n == 0) break;
    sha_update(&s, iobuf, (size_t)n);
    left -= (unsigned long long)n;
  }
  close(fd);
  char out[65];
  sha_final(&s, out);
  if (size > maxhash) putchar('~');
  fputs(out, stdout);
}

static void xattrs(const char *path) {
  ssize_t n = llistxattr(path, NULL, 0);
  if (n < 0) { printf("!%d", errno); return; }
  if (n == 0) { putchar('-'); return; }
  char *names = malloc((size_t)n + 1);
  n = llistxattr(path, names, (size_t)n);
  if (n < 0) { printf("!%d", errno); free(names); return; }
  int first = 1;
  for (char *p = names; p < names + n; p += strlen(p) + 1) {
    if (!first) putchar(',');
    first = 0;
    hex(p, strlen(p));
    putchar('=');
    ssize_t v = lgetxattr(path, p, NULL, 0);
    if (v < 0) { printf("!%d", errno); continue; }
    char *val = malloc((size_t)v + 1);
    v = lgetxattr(path, p, val, (size_t)v);
    if (v < 0) printf("!%d", errno);
    else hex(val, (size_t)v);
    free(val);
  }
  free(names);
}

static void relpath(const char *path, size_t len) {
  if (len == rootlen) putchar('-');
  else hex(path + rootlen + 1, len - rootlen - 1);
}

/* opendir or readdir failed: "D <path> !<errno>" */
static void dirfail(const char *path, size_t len, int err) {
  fputs("D ", stdout);
  relpath(path, len);
  printf(" !%d\n", err);
}

/* path is root + "/" + rel; dtype is the readdir d_type ("-" for the root) */
static void entry(char *path, size_t len, const char *dtype) {
  struct stat st;
  count++;
  putchar('E');
  putchar(' ');
  relpath(path, len);
  if (lstat(path, &st) < 0) { printf(" !%d\n", errno); return; }
  printf(" %llu %s %o %u %u %lld %lu %lld.%09ld %u:%u %s ", (unsigned long long)st.st_ino, type_of(st.st_mode),
         (unsigned)st.st_mode, (unsigned)st.st_uid, (unsigned)st.st_gid, (long long)st.st_size,
         (unsigned long)st.st_nlink, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
         major(st.st_rdev), minor(st.st_rdev), dtype);
  if (S_ISLNK(st.st_mode)) {
    char target[65536];
    ssize_t n = readlink(path, target, sizeof target);
    if (n < 0) printf("!%d", errno);
    else hex(target, (size_t)n);
  } else putchar('-');
  putchar(' ');
  if (S_ISREG(st.st_mode)) content(path, (unsigned long long)st.st_size);
  else putchar('-');
  putchar(' ');
  xattrs(path);
  putchar('\n');
  if (!S_ISDIR(st.st_mode)) return;
  DIR *d = opendir(path);
  if (!d) { dirfail(path, len, errno); return; }
  for (;;) {
    errno = 0;
    struct dirent *de = readdir(d);
    if (!de) {
      if (errno) dirfail(path, len, errno);
      break;
    }
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    size_t nl = strlen(de->d_name);
    char *child = malloc(len + nl + 2);
    memcpy(child, path, len);
    child[len] = '/';
    memcpy(child + len + 1, de->d_name, nl + 1);
    entry(child, len + 1 + nl, dtype_of(de->d_type));
    free(child);
  }
  closedir(d);
}

int main(int argc, char **argv) {
  if (argc == 4 && !strcmp(argv[1], "-m")) {
    maxhash = strtoull(argv[2], NULL, 10);
    argv += 2;
    argc -= 2;
  }
  if (argc != 2) { fprintf(stderr, "usage: lsx [-m MAX] ROOT\n"); return 2; }
  static char outbuf[1 << 16];
  setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
  root = argv[1];
  rootlen = strlen(root);
  struct statfs sf;
  if (statfs(root, &sf) == 0)
    printf("S %lld %llu %llu %llu %lld\n", (long long)sf.f_bsize, (unsigned long long)sf.f_blocks,
           (unsigned long long)sf.f_files, (unsigned long long)sf.f_ffree, (long long)sf.f_namelen);
  else printf("S !%d\n", errno);
  entry(root, rootlen, "-");
  printf("T %lu\n", count);
  fflush(stdout);
  return 0;
}
