/**
 * Bounds-checked little-endian access to a whole image held in memory (docs/FORMATS.md §5: "all
 * integers little-endian"). Every read names what it reads, so a malformed image fails with an
 * `image-invalid` error carrying the byte offset and the reason — never a RangeError from a
 * Buffer or DataView.
 */
import { imageInvalid } from '../report/errors.js';

export class ImageBytes {
  readonly data: Uint8Array;
  /** The image path, for error messages. */
  readonly path: string;
  private readonly view: DataView;

  constructor(data: Uint8Array, path: string) {
    this.data = data;
    this.path = path;
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  get length(): number {
    return this.data.length;
  }

  /** Throws the image-invalid error for a structure at `offset`. */
  fail(offset: number, reason: string): never {
    throw imageInvalid(this.path, Number.isFinite(offset) ? offset : -1, reason);
  }

  /** True when [offset, offset+length) lies inside the image. Safe for any numbers (NaN, huge). */
  contains(offset: number, length: number): boolean {
    return Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0 &&
      offset <= this.data.length && length <= this.data.length - offset;
  }

  /** Requires [offset, offset+length) inside the image; `what` names the structure. */
  need(offset: number, length: number, what: string): void {
    if (!this.contains(offset, length)) {
      this.fail(offset, `${what} (${length} bytes) extends beyond the end of the image (${this.data.length} bytes)`);
    }
  }

  u8(offset: number, what: string): number {
    this.need(offset, 1, what);
    return this.data[offset]!;
  }

  u16(offset: number, what: string): number {
    this.need(offset, 2, what);
    return this.view.getUint16(offset, true);
  }

  u32(offset: number, what: string): number {
    this.need(offset, 4, what);
    return this.view.getUint32(offset, true);
  }

  u64(offset: number, what: string): bigint {
    this.need(offset, 8, what);
    return this.view.getBigUint64(offset, true);
  }

  /** A u64 that must fit a JS number exactly (sizes, nids); larger values are absurd for any image. */
  u64Safe(offset: number, what: string): number {
    const v = this.u64(offset, what);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(offset, `${what} ${v} is absurdly large`);
    return Number(v);
  }

  /** A view (no copy) of [offset, offset+length). */
  slice(offset: number, length: number, what: string): Uint8Array {
    this.need(offset, length, what);
    return this.data.subarray(offset, offset + length);
  }
}

/** Rounds `n` up to a multiple of the power of two `align`. */
export function alignUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });
/** Display form of raw name bytes (invalid UTF-8 becomes U+FFFD; use the bytes for exactness). */
export function decodeName(bytes: Uint8Array): string {
  return utf8.decode(bytes);
}

/** Byte-wise comparison, the order of C strcmp on names without NUL. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && compareBytes(a, b) === 0;
}

/** Does `bytes` equal the ASCII string `s`? */
export function isAscii(bytes: Uint8Array, s: string): boolean {
  if (bytes.length !== s.length) return false;
  for (let i = 0; i < s.length; i++) if (bytes[i] !== s.charCodeAt(i)) return false;
  return true;
}

/** Does `bytes` start with the ASCII string `s`? */
export function startsWithAscii(bytes: Uint8Array, s: string): boolean {
  if (bytes.length < s.length) return false;
  for (let i = 0; i < s.length; i++) if (bytes[i] !== s.charCodeAt(i)) return false;
  return true;
}

export function asciiBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function hex(n: number, width = 8): string {
  return `0x${n.toString(16).padStart(width, '0')}`;
}
