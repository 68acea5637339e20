/**
 * composefs-dump(5) text format (docs/FORMATS.md §4.4): the escaper composefs-info uses for every
 * field, a writer for one line per path, and a parser of such lines.
 *
 * Escaping (composefs-info `print_escaped`): `\` → `\\`, newline → `\n`, CR → `\r`, TAB → `\t`;
 * any other byte outside C `isgraph` (or `isprint` when spaces may stay) → `\xHH` lowercase;
 * `=` → `\x3d` in xattr names and values only; a whole field that is just `-` → `\x2d` where
 * `-` would mean "absent". All output is ASCII.
 */
import { dumpInvalid } from '../report/errors.js';

/** Bit flags of `print_escaped`. */
export const ESCAPE_STANDARD = 0;
/** Keep spaces (the `ls` path column). */
export const NOESCAPE_SPACE = 1 << 0;
/** Escape `=` (xattr key and value fields). */
export const ESCAPE_EQUAL = 1 << 1;
/** A field consisting of a single `-` is written `\x2d`. */
export const ESCAPE_LONE_DASH = 1 << 2;

const HEX = '0123456789abcdef';

/** Escapes raw bytes for a dump/ls field. */
export function escapeBytes(bytes: Uint8Array, flags: number = ESCAPE_STANDARD): string {
  if ((flags & ESCAPE_LONE_DASH) !== 0 && bytes.length === 1 && bytes[0] === 0x2d) return '\\x2d';
  const keepSpace = (flags & NOESCAPE_SPACE) !== 0;
  const escapeEqual = (flags & ESCAPE_EQUAL) !== 0;
  // Most fields (paths, payloads) need no escape: one scan, one decode, no per-byte appends.
  if (needsNoEscape(bytes, escapeEqual)) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
  let out = '';
  for (const c of bytes) {
    switch (c) {
      case 0x5c: out += '\\\\'; continue;
      case 0x0a: out += '\\n'; continue;
      case 0x0d: out += '\\r'; continue;
      case 0x09: out += '\\t'; continue;
    }
    const printable = c === 0x3d ? !escapeEqual : keepSpace ? c >= 0x20 && c <= 0x7e : c >= 0x21 && c <= 0x7e;
    out += printable ? String.fromCharCode(c) : `\\x${HEX[c >> 4]}${HEX[c & 15]}`;
  }
  return out;
}

function needsNoEscape(bytes: Uint8Array, escapeEqual: boolean): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (c < 0x21 || c > 0x7e || c === 0x5c || (escapeEqual && c === 0x3d)) return false;
  }
  return true;
}

/** One path of a composefs tree, the fields of a dump line. */
export interface DumpRecord {
  readonly path: Uint8Array;
  readonly size: number;
  readonly mode: number;
  readonly nlink: number;
  readonly uid: number;
  readonly gid: number;
  readonly rdev: number;
  readonly mtimeSec: bigint;
  readonly mtimeNsec: number;
  /** Symlink target / backing path; for a hard link the absolute path of the first name. */
  readonly payload: Uint8Array | null;
  readonly content: Uint8Array | null;
  /** 32-byte fs-verity digest. */
  readonly digest: Uint8Array | null;
  readonly xattrs: readonly { readonly rawName: Uint8Array; readonly value: Uint8Array }[];
  /** Written with `@` before MODE: a later name of a hard-linked inode. */
  readonly hardlink: boolean;
}

function hexDigest(d: Uint8Array): string {
  return Buffer.from(d.buffer, d.byteOffset, d.length).toString('hex');
}

/** Formats one dump line (without the newline), byte-compatible with composefs-info `dump`. */
export function formatDumpLine(r: DumpRecord): string {
  const path = r.path.length === 0 ? '/' : escapeBytes(r.path);
  let line = `${path} ${r.size} ${r.hardlink ? '@' : ''}${r.mode.toString(8)} ${r.nlink} ${r.uid} ${r.gid} ${r.rdev} ${r.mtimeSec}.${r.mtimeNsec} `;
  line += r.payload === null ? '-' : escapeBytes(r.payload, ESCAPE_LONE_DASH);
  line += ' ';
  line += r.content === null ? '-' : escapeBytes(r.content, ESCAPE_LONE_DASH);
  line += r.digest === null ? ' -' : ` ${hexDigest(r.digest)}`;
  for (const x of r.xattrs) line += ` ${escapeBytes(x.rawName, ESCAPE_EQUAL)}=${escapeBytes(x.value, ESCAPE_EQUAL)}`;
  return line;
}

/** Undoes the escaping of one field: `\\ \n \r \t \xHH` only, as mkcomposefs' parser accepts. */
export function unescapeField(field: string, lineNo = 0): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < field.length; i++) {
    const ch = field.charCodeAt(i);
    if (ch > 0xff) throw dumpInvalid(lineNo, 'non-byte character in field');
    if (ch !== 0x5c) {
      out.push(ch);
      continue;
    }
    const next = field[++i];
    switch (next) {
      case '\\': out.push(0x5c); break;
      case 'n': out.push(0x0a); break;
      case 'r': out.push(0x0d); break;
      case 't': out.push(0x09); break;
      case 'x': {
        const h = field.slice(i + 1, i + 3);
        if (!/^[0-9a-fA-F]{2}$/.test(h)) throw dumpInvalid(lineNo, `bad \\x escape "${h}"`);
        out.push(parseInt(h, 16));
        i += 2;
        break;
      }
      default:
        throw dumpInvalid(lineNo, `unknown escape "\\${next ?? ''}"`);
    }
  }
  return Uint8Array.from(out);
}

function optionalField(field: string, lineNo: number): Uint8Array | null {
  return field === '-' ? null : unescapeField(field, lineNo);
}

function decimal(field: string, what: string, lineNo: number): number {
  if (!/^\d+$/.test(field)) throw dumpInvalid(lineNo, `${what} "${field}" is not a decimal number`);
  const n = Number(field);
  if (!Number.isSafeInteger(n)) throw dumpInvalid(lineNo, `${what} ${field} is too large`);
  return n;
}

/**
 * Parses one dump line (a latin1 string: one char per byte; the newline already removed).
 * Field-level only: hard-link resolution and tree checks belong to whoever builds a tree.
 */
export function parseDumpLine(line: string, lineNo = 0): DumpRecord {
  const fields = line.split(' ');
  if (fields.length < 11) throw dumpInvalid(lineNo, `expected at least 11 fields, got ${fields.length}`);
  const [pathF, sizeF, modeF, nlinkF, uidF, gidF, rdevF, mtimeF, payloadF, contentF, digestF] = fields as [
    string, string, string, string, string, string, string, string, string, string, string];
  const hardlink = modeF.startsWith('@');
  const modeDigits = hardlink ? modeF.slice(1) : modeF;
  if (!/^[0-7]+$/.test(modeDigits)) throw dumpInvalid(lineNo, `mode "${modeF}" is not octal`);
  const mtime = /^(-?\d+)\.(\d+)$/.exec(mtimeF);
  if (mtime === null) throw dumpInvalid(lineNo, `mtime "${mtimeF}" is not SEC.NSEC`);
  let digest: Uint8Array | null = null;
  if (digestF !== '-') {
    // SHA-256 objects (composefs) or SHA-512 ones (composefs-rs repositories).
    if (!/^(?:[0-9a-fA-F]{64}|[0-9a-fA-F]{128})$/.test(digestF)) throw dumpInvalid(lineNo, `digest "${digestF}" is not 64 (SHA-256) or 128 (SHA-512) hex digits`);
    digest = Uint8Array.from(digestF.match(/../g)!.map((h) => parseInt(h, 16)));
  }
  const xattrs = fields.slice(11).filter((f) => f.length > 0).map((f) => {
    const eq = f.indexOf('=');
    if (eq < 0) throw dumpInvalid(lineNo, `xattr "${f}" has no "="`);
    return { rawName: unescapeField(f.slice(0, eq), lineNo), value: unescapeField(f.slice(eq + 1), lineNo) };
  });
  const path = unescapeField(pathF, lineNo);
  return {
    path: path.length === 1 && path[0] === 0x2f ? new Uint8Array(0) : path,
    size: decimal(sizeF, 'size', lineNo),
    mode: parseInt(modeDigits, 8),
    nlink: decimal(nlinkF, 'nlink', lineNo),
    uid: decimal(uidF, 'uid', lineNo),
    gid: decimal(gidF, 'gid', lineNo),
    rdev: decimal(rdevF, 'rdev', lineNo),
    mtimeSec: BigInt(mtime[1]!),
    mtimeNsec: decimal(mtime[2]!, 'mtime nsec', lineNo),
    payload: optionalField(payloadF, lineNo),
    content: optionalField(contentF, lineNo),
    digest,
    xattrs,
    hardlink,
  };
}
