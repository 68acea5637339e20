/**
 * A model of random composefs trees for property tests: entries of every kind (inline and
 * external files, directories, symlinks, devices, FIFOs, sockets, whiteouts, hard links) and the
 * composefs dump mkcomposefs would be given for them.
 */
import fc from 'fast-check';
import { formatDumpLine, type DumpRecord } from '../../src/composefs/dump.js';
import { composefsDirSize } from '../../src/composefs/import.js';

const S_IFMT = 0o170000;
const XATTR_NAMES = ['user.a', 'user.comment', 'trusted.test', 'trusted.overlay.custom', 'security.selinux', 'system.posix_acl_access', 'other.name'];

type Kind = 'empty' | 'inline' | 'external' | 'dir' | 'symlink' | 'chr' | 'blk' | 'fifo' | 'sock' | 'whiteout' | 'hardlink';
export interface Entry {
  parent: number;
  name: Uint8Array;
  kind: Kind;
  perm: number;
  content: Uint8Array;
  size: number;
  digest: Uint8Array | null;
  payload: boolean;
  rdev: number;
  mtime: [number, number];
  uid: number;
  gid: number;
  xattrs: { name: number; value: Uint8Array }[];
  /** 140 xattrs `user.mN=v`: more shared xattrs than one inode may refer to (128). */
  many: boolean;
}

export const entryArb: fc.Arbitrary<Entry> = fc.record({
  parent: fc.nat(),
  name: fc.oneof({ weight: 6, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 40 }) }, { weight: 1, arbitrary: fc.uint8Array({ minLength: 200, maxLength: 255 }) })
    .map((a) => a.map((c) => (c === 0 || c === 0x2f ? 0x5f : c))),
  kind: fc.constantFrom<Kind>('empty', 'inline', 'inline', 'external', 'external', 'dir', 'dir', 'symlink', 'chr', 'blk', 'fifo', 'sock', 'whiteout', 'hardlink'),
  perm: fc.constantFrom(0o644, 0o755, 0o600, 0o4755, 0o1777),
  // Inline content up to the dump limit (5000); symlink targets up to PATH_MAX - 1.
  content: fc.oneof({ weight: 6, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 300 }) }, { weight: 1, arbitrary: fc.uint8Array({ minLength: 3000, maxLength: 5000 }) }),
  size: fc.oneof(fc.integer({ min: 65, max: 100_000 }), fc.constant(2 ** 40 + 3)),
  digest: fc.option(fc.uint8Array({ minLength: 32, maxLength: 32 }), { freq: 5 }),
  payload: fc.boolean(),
  rdev: fc.integer({ min: 1, max: 0xffffffff }),
  mtime: fc.oneof(fc.constant<[number, number]>([1700000000, 0]), fc.tuple(fc.integer({ min: 0, max: 2 ** 33 }), fc.integer({ min: 0, max: 999_999_999 }))),
  uid: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffffffff })),
  gid: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffffffff })),
  xattrs: fc.array(fc.record({ name: fc.nat(XATTR_NAMES.length - 1), value: fc.oneof(fc.constantFrom(Buffer.from('v1'), Buffer.from('')), fc.uint8Array({ maxLength: 40 })) }), { maxLength: 4 }),
  many: fc.oneof({ weight: 12, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
});

interface ModelNode {
  path: Buffer;
  rec: DumpRecord | null;
  children: Map<string, ModelNode>;
  isDir: boolean;
  entry: Entry | null;
  links: ModelNode[];
  linkTo: ModelNode | null;
}

/** Builds the tree an entry list describes; returns the dump composefs-info would print for its image. */
export function expectedDump(root: { mtime: [number, number] }, entries: readonly Entry[]): string {
  const top: ModelNode = { path: Buffer.alloc(0), rec: null, children: new Map(), isDir: true, entry: null, links: [], linkTo: null };
  const dirs: ModelNode[] = [top];
  const linkable: ModelNode[] = [];
  for (const e of entries) {
    const parent = dirs[e.parent % dirs.length]!;
    const name = Buffer.from(e.name);
    if (name.equals(Buffer.from('.')) || name.equals(Buffer.from('..')) || parent.children.has(name.toString('latin1'))) continue;
    if (e.kind === 'hardlink' && linkable.length === 0) continue;
    const node: ModelNode = { path: Buffer.concat([parent.path, Buffer.from('/'), name]), rec: null, children: new Map(), isDir: e.kind === 'dir', entry: e, links: [], linkTo: null };
    parent.children.set(name.toString('latin1'), node);
    if (e.kind === 'dir') dirs.push(node);
    else if (e.kind === 'hardlink') {
      node.linkTo = linkable[e.rdev % linkable.length]!;
      node.linkTo.links.push(node);
    } else if (e.kind !== 'whiteout') linkable.push(node);
  }
  // Pre-order, children in byte order: composefs-info's walk; the first name of a hard-linked inode owns it.
  const order: ModelNode[] = [];
  const walk = (n: ModelNode) => {
    order.push(n);
    for (const k of [...n.children.keys()].sort((a, b) => Buffer.compare(Buffer.from(a, 'latin1'), Buffer.from(b, 'latin1')))) walk(n.children.get(k)!);
  };
  walk(top);
  const owner = new Map<ModelNode, ModelNode>();
  for (const n of order) {
    const inode = n.linkTo ?? n;
    if (!owner.has(inode)) owner.set(inode, n);
  }
  const hasWhiteout = (n: ModelNode) => [...n.children.values()].some((c) => c.entry?.kind === 'whiteout');
  const anyWhiteout = order.some((n) => n.entry?.kind === 'whiteout');
  const recOf = (n: ModelNode): DumpRecord => {
    const e = n.entry;
    const childNames = [...n.children.keys()].map((k) => Buffer.from(k, 'latin1'));
    const xattrs: { rawName: Uint8Array; value: Uint8Array }[] = [];
    for (const x of e?.xattrs ?? []) {
      const rawName = Buffer.from(XATTR_NAMES[x.name]!);
      const i = xattrs.findIndex((y) => Buffer.from(y.rawName).equals(rawName));
      if (i >= 0) xattrs.splice(i, 1);
      xattrs.push({ rawName, value: x.value });
    }
    if (e?.many === true) for (let i = 0; i < 140; i++) xattrs.push({ rawName: Buffer.from(`user.m${i}`), value: Buffer.from('v') });
    if (n.isDir && anyWhiteout && hasWhiteout(n)) {
      for (const k of ['trusted.overlay.opaque', 'user.overlay.opaque']) xattrs.push({ rawName: Buffer.from(k), value: Buffer.from('x') });
    }
    const base = {
      path: n.path, nlink: 1, uid: e?.uid ?? 0, gid: e?.gid ?? 0, rdev: 0,
      mtimeSec: BigInt((e ?? root).mtime[0]), mtimeNsec: (e ?? root).mtime[1],
      payload: null, content: null, digest: null, xattrs, hardlink: false,
    };
    if (e === null || n.isDir) {
      return { ...base, size: composefsDirSize(childNames, e === null), mode: 0o40000 | (e?.perm ?? 0o755), nlink: 2 + [...n.children.values()].filter((c) => c.isDir).length };
    }
    const links = 1 + n.links.length;
    switch (e.kind) {
      case 'empty': return { ...base, size: 0, mode: 0o100000 | e.perm, nlink: links };
      case 'inline': return { ...base, size: e.content.length, mode: 0o100000 | e.perm, content: e.content, nlink: links };
      case 'external': {
        const hex = Buffer.from(e.digest ?? new Uint8Array(32).fill(7)).toString('hex');
        return { ...base, size: e.size, mode: 0o100000 | e.perm, nlink: links, digest: e.digest, payload: e.payload ? Buffer.from(`${hex.slice(0, 2)}/${hex.slice(2)}`) : null };
      }
      case 'symlink': {
        const target = e.content.subarray(0, 4095).map((c) => (c === 0 ? 1 : c));
        return { ...base, size: target.length, mode: 0o120777, payload: target, nlink: links };
      }
      case 'chr': return { ...base, size: 0, mode: 0o20000 | (e.perm & 0o777), rdev: e.rdev, nlink: links };
      case 'blk': return { ...base, size: 0, mode: 0o60000 | (e.perm & 0o777), rdev: e.rdev, nlink: links };
      case 'fifo': return { ...base, size: 0, mode: 0o10000 | (e.perm & 0o777), nlink: links };
      case 'sock': return { ...base, size: 0, mode: 0o140000 | (e.perm & 0o777), nlink: links };
      case 'whiteout': return { ...base, size: 0, mode: 0o20000 | (e.perm & 0o777) };
      default: throw new Error(`unexpected ${e.kind}`);
    }
  };
  const records = new Map<ModelNode, DumpRecord>();
  for (const n of order) if (n.linkTo === null) records.set(n, recOf(n));
  const lines: string[] = [];
  for (const n of order) {
    const inode = n.linkTo ?? n;
    const first = owner.get(inode)!;
    const rec = records.get(inode)!;
    lines.push(formatDumpLine(first === n ? { ...rec, path: n.path } : { ...rec, path: n.path, payload: first.path, hardlink: true }));
  }
  return `${lines.join('\n')}\n`;
}

/** Dump lines with their xattrs sorted: composefs-info lists shared xattrs after the inline ones. */
export function normalize(dump: string): string[] {
  return dump.split('\n').filter((l) => l !== '').map((l) => {
    const f = l.split(' ');
    return [...f.slice(0, 11), ...f.slice(11).sort()].join(' ');
  });
}
