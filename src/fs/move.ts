/**
 * Moving a file out of a tree without following anything: directories created and opened one
 * component at a time beneath an open directory (mkdirat + openat O_NOFOLLOW), the target name
 * claimed with an exclusive create, then renameat(2) between the two directory descriptors. The
 * source is a name in a directory that was walked, so no symlink swapped in anywhere can make
 * this move anything from outside the tree, or into anywhere but the directory given.
 *
 * Spec: renameat(2), mkdirat(2), openat(2) O_CREAT|O_EXCL.
 */
import { fileChanged, writeFailed } from '../report/errors.js';
import { O_CLOEXEC, O_CREAT, O_EXCL, O_NOFOLLOW, O_WRONLY, openSubdirectory, type DirHandle } from './dir.js';
import { ERRNO, fsErrnoError } from '../report/errno.js';
import { libc } from './libc.js';
import { cPath, pathText } from './path.js';
import { statAt, statFd } from './stat.js';

const { EEXIST } = ERRNO;

/** Opens (creating where missing) `components` below `base`, never following a symlink. */
export function ensureDirectories(base: DirHandle, components: readonly string[]): DirHandle {
  let dir = base.retain();
  for (const c of components) {
    if (c === '' || c === '.' || c === '..' || c.includes('/')) {
      dir.release();
      throw new TypeError(`bad path component: ${JSON.stringify(c)}`);
    }
    const lib = libc();
    if (lib.mkdirat(dir.fd, cPath(c), 0o700) < 0) {
      const errno = lib.errno();
      if (errno !== EEXIST) {
        dir.release();
        throw fsErrnoError('mkdir', errno, pathText(dir.child(Buffer.from(c))));
      }
    }
    let next: DirHandle;
    try {
      next = openSubdirectory(dir, Buffer.from(c));
    } finally {
      dir.release();
    }
    dir = next;
  }
  return dir;
}

/**
 * Renames `srcDir/srcName` to `dstDir/dstName`, or to `dstName.1`, `.2`, … when taken (at most
 * `maxSuffix`): the name is claimed with an exclusive create first, so nothing is overwritten.
 * `expectIno`: the source must still be that inode (else `file-changed`, and nothing moves).
 * Returns the name used.
 */
export function moveAside(srcDir: DirHandle, srcName: Uint8Array, dstDir: DirHandle, dstName: string, expectIno: bigint | undefined, maxSuffix = 1000): string {
  const lib = libc();
  const srcPath = pathText(srcDir.child(srcName));
  if (expectIno !== undefined) {
    const st = statAt(srcDir.fd, cPath(srcName));
    if (typeof st === 'number') throw fsErrnoError('stat', -st, srcPath);
    if (st.ino !== expectIno) throw fileChanged(srcPath, 'replaced after it was checked; not moved');
  }
  for (let n = 0; n <= maxSuffix; n++) {
    const name = n === 0 ? dstName : `${dstName}.${n}`;
    const fd = lib.openat(dstDir.fd, cPath(name), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600);
    if (fd < 0) {
      const errno = lib.errno();
      if (errno === EEXIST) continue;
      throw fsErrnoError('open', errno, pathText(dstDir.child(Buffer.from(name))));
    }
    lib.close(fd);
    if (lib.renameat(srcDir.fd, cPath(srcName), dstDir.fd, cPath(name)) < 0) {
      const errno = lib.errno();
      lib.unlinkat(dstDir.fd, cPath(name), 0);
      throw fsErrnoError('rename', errno, srcPath);
    }
    return name;
  }
  throw writeFailed(srcPath, `${pathText(dstDir.child(Buffer.from(dstName)))} and ${maxSuffix} suffixed names beside it are taken`);
}

/**
 * Whether `dir` is `ancestor` or lies below it, judged by the directories themselves (device
 * and inode, climbing `..` from the open descriptor), not by how their paths are spelled: a
 * symlink into the tree counts as inside.
 */
export function isWithin(dir: DirHandle, ancestor: DirHandle): boolean {
  const lib = libc();
  const want = `${ancestor.stat.dev}/${ancestor.stat.ino}`;
  let fd = -1;
  let current = dir.stat;
  try {
    for (let depth = 0; depth < 4096; depth++) {
      if (`${current.dev}/${current.ino}` === want) return true;
      const parent = lib.openat(fd < 0 ? dir.fd : fd, cPath('..'), O_CLOEXEC | 0o200000 /* O_DIRECTORY */, 0);
      if (parent < 0) return false;
      if (fd >= 0) lib.close(fd);
      fd = parent;
      const st = statFd(fd);
      if (typeof st === 'number') return false;
      if (st.ino === current.ino && st.dev === current.dev) return false; // reached /
      current = st;
    }
    return false;
  } finally {
    if (fd >= 0) lib.close(fd);
  }
}
