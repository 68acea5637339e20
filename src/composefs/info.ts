/**
 * The text forms composefs-info 1.0.8 gives an image (docs/FORMATS.md §4.3, §4.4): `ls` lines and
 * composefs-dump(5) records, from the composefs view of the image (./image.ts), byte for byte.
 */
import { ESCAPE_STANDARD, NOESCAPE_SPACE, escapeBytes, formatDumpLine, type DumpRecord } from './dump.js';
import { nodeType, type ComposefsImage, type ComposefsNode } from './image.js';
import { isOverlayXattr, lowerType, type LowerEntry } from '../overlay/lower.js';

/** Every node with its raw absolute path, pre-order (the root's path is "/"). */
function* entries(image: ComposefsImage): Generator<{ rawPath: Uint8Array; node: ComposefsNode }> {
  for (const e of image.walk()) yield { rawPath: e.rawPath, node: e.node };
}

/** Absolute path of a node, rebuilt from names (composefs-info `node_build_path`). */
function nodePath(node: ComposefsNode): Uint8Array {
  const names: Uint8Array[] = [];
  for (let n: ComposefsNode | null = node; n !== null && n.parent !== null; n = n.parent) names.push(n.name);
  const parts: number[] = [];
  for (let i = names.length - 1; i >= 0; i--) parts.push(0x2f, ...names[i]!);
  return parts.length === 0 ? Uint8Array.of(0x2f) : Uint8Array.from(parts);
}

/** `ls` lines (with newline) in composefs-info order; the root is not listed. */
export function* lsLines(image: ComposefsImage): Generator<string> {
  for (const { rawPath, node } of entries(image)) {
    if (node.parent === null) continue;
    let line = escapeBytes(rawPath, NOESCAPE_SPACE);
    if (node.hardlinkTarget === null) {
      const type = nodeType(node);
      if (type === 'directory') line += '/\t';
      else if (type === 'symlink') line += `\t-> ${escapeBytes(node.payload ?? new Uint8Array(0), ESCAPE_STANDARD)}`;
      else if (type === 'file' && node.payload !== null) line += `\t@ ${escapeBytes(node.payload, ESCAPE_STANDARD)}`;
    }
    yield `${line}\n`;
  }
}

export function formatLs(image: ComposefsImage): string {
  return [...lsLines(image)].join('');
}

export function dumpRecord(rawPath: Uint8Array, node: ComposefsNode): DumpRecord {
  const target = node.hardlinkTarget ?? node;
  return {
    path: node.parent === null ? new Uint8Array(0) : rawPath,
    size: target.size,
    mode: target.mode,
    nlink: target.nlink,
    uid: target.uid,
    gid: target.gid,
    rdev: target.rdev,
    mtimeSec: target.mtime.sec,
    mtimeNsec: target.mtime.nsec,
    payload: node.hardlinkTarget !== null ? nodePath(target) : target.payload,
    // composefs prints `size` bytes of the content: a whiteout keeps its (empty) content at size 0.
    content: target.content === null ? null : target.content.subarray(0, target.size),
    digest: target.digest,
    xattrs: target.xattrs,
    hardlink: node.hardlinkTarget !== null,
  };
}

/** composefs-dump(5) lines (with newline), root first. */
export function* dumpLines(image: ComposefsImage): Generator<string> {
  for (const { rawPath, node } of entries(image)) yield `${formatDumpLine(dumpRecord(rawPath, node))}\n`;
}

export function formatDump(image: ComposefsImage): string {
  return [...dumpLines(image)].join('');
}


/** Entries of a composefs image: the raw EROFS file type and stored xattrs of every path. */
export function* imageEntries(image: ComposefsImage): Generator<LowerEntry> {
  for (const e of image.walk()) {
    if (e.node.parent === null) continue; // the root is never looked up
    const xattrs = new Map<string, Uint8Array>();
    for (const x of e.node.rawXattrs) {
      if (isOverlayXattr(x.name) && !xattrs.has(x.name)) xattrs.set(x.name, x.value);
    }
    yield { path: e.path, type: lowerType(e.inode.type), xattrs };
  }
}

