/**
 * Byte layouts of the fs-verity ioctl arguments, packed by hand into ArrayBuffer-backed arrays so
 * the layout is explicit and unit-testable without a kernel. Pointers inside the structs are
 * filled through an injected `addressOf`, which the FFI layer supplies.
 *
 * Spec: docs/FORMATS.md §2.2 (`struct fsverity_enable_arg`, `struct fsverity_digest`,
 * `struct fsverity_read_metadata_arg`; fsverity-utils `common/fsverity_uapi.h`) and §1.3 for the
 * descriptor read back with FS_IOC_READ_VERITY_METADATA.
 */
import {
  DIGEST_HEADER_SIZE,
  ENABLE_ARG_SIZE,
  ENABLE_ARG_VERSION,
  MAX_DIGEST_SIZE,
  MAX_SALT_SIZE,
  MAX_SIGNATURE_SIZE,
  READ_METADATA_ARG_SIZE,
} from './constants.js';

/** Returns the address of the first byte of `buf`'s data (must stay valid while the call runs). */
export type AddressOf = (buf: Uint8Array) => bigint;

/** Offsets in `struct fsverity_enable_arg` (§2.2). */
export const ENABLE_ARG = Object.freeze({
  version: 0,
  hashAlgorithm: 4,
  blockSize: 8,
  saltSize: 12,
  saltPtr: 16,
  sigSize: 24,
  reserved1: 28,
  sigPtr: 32,
  reserved2: 40, // u64[11], must be zero
});

/** Offsets in `struct fsverity_read_metadata_arg` (§2.2). */
export const READ_METADATA_ARG = Object.freeze({
  metadataType: 0,
  offset: 8,
  length: 16,
  bufPtr: 24,
  reserved: 32,
});

/**
 * A fresh ArrayBuffer, never a view of Node's shared Buffer pool or a V8 on-heap array: its data
 * does not move, so an address taken from it stays valid while the kernel reads through it.
 */
export function stableBytes(size: number): Uint8Array {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`bad buffer size: ${String(size)}`);
  return new Uint8Array(new ArrayBuffer(size));
}

export interface EnableArgInput {
  /** FS_VERITY_HASH_ALG_* number (1 = SHA-256, 2 = SHA-512). */
  readonly hashAlgorithm: number;
  /** Merkle tree block size in bytes. */
  readonly blockSize: number;
  readonly salt: Uint8Array;
  /** PKCS#7 DER builtin signature, or none. */
  readonly signature?: Uint8Array | undefined;
}

/**
 * One buffer: the 128-byte `fsverity_enable_arg`, then the salt, then the signature, with
 * `salt_ptr`/`sig_ptr` pointing into the same buffer. Passing this buffer as the ioctl argument
 * keeps everything the kernel dereferences alive for exactly as long as the buffer.
 */
export function packEnableArg(input: EnableArgInput, addressOf: AddressOf): Uint8Array {
  const { hashAlgorithm, blockSize, salt } = input;
  const signature = input.signature ?? new Uint8Array(0);
  if (!Number.isInteger(hashAlgorithm) || hashAlgorithm < 1 || hashAlgorithm > 255)
    throw new RangeError(`hash algorithm number out of range: ${String(hashAlgorithm)}`);
  if (!Number.isInteger(blockSize) || blockSize <= 0 || blockSize > 0xffffffff)
    throw new RangeError(`block size out of range: ${String(blockSize)}`);
  if (!(salt instanceof Uint8Array)) throw new TypeError(`salt must be a Uint8Array, got ${typeof salt}`);
  if (!(signature instanceof Uint8Array)) throw new TypeError(`signature must be a Uint8Array, got ${typeof signature}`);
  if (salt.length > MAX_SALT_SIZE) throw new RangeError(`salt is ${salt.length} bytes; at most ${MAX_SALT_SIZE}`);
  if (signature.length > MAX_SIGNATURE_SIZE)
    throw new RangeError(`signature is ${signature.length} bytes; at most ${MAX_SIGNATURE_SIZE}`);

  const buf = stableBytes(ENABLE_ARG_SIZE + salt.length + signature.length);
  const view = new DataView(buf.buffer);
  const saltOff = ENABLE_ARG_SIZE;
  const sigOff = saltOff + salt.length;
  buf.set(salt, saltOff);
  buf.set(signature, sigOff);
  // Null pointers when empty: the kernel only dereferences them for a non-zero size.
  const base = salt.length > 0 || signature.length > 0 ? addressOf(buf) : 0n;
  view.setUint32(ENABLE_ARG.version, ENABLE_ARG_VERSION, true);
  view.setUint32(ENABLE_ARG.hashAlgorithm, hashAlgorithm, true);
  view.setUint32(ENABLE_ARG.blockSize, blockSize, true);
  view.setUint32(ENABLE_ARG.saltSize, salt.length, true);
  view.setBigUint64(ENABLE_ARG.saltPtr, salt.length > 0 ? base + BigInt(saltOff) : 0n, true);
  view.setUint32(ENABLE_ARG.sigSize, signature.length, true);
  view.setBigUint64(ENABLE_ARG.sigPtr, signature.length > 0 ? base + BigInt(sigOff) : 0n, true);
  // reserved1 and reserved2[11] stay zero (the kernel returns EINVAL otherwise).
  return buf;
}

/** `struct fsverity_digest` with room for the largest digest; `digest_size` = capacity on input. */
export function packDigestBuffer(): Uint8Array {
  const buf = stableBytes(DIGEST_HEADER_SIZE + MAX_DIGEST_SIZE);
  new DataView(buf.buffer).setUint16(2, MAX_DIGEST_SIZE, true);
  return buf;
}

export interface MeasuredDigest {
  /** FS_VERITY_HASH_ALG_* number. */
  readonly hashAlgorithm: number;
  readonly digest: Uint8Array;
}

export function unpackDigest(buf: Uint8Array): MeasuredDigest {
  if (!(buf instanceof Uint8Array) || buf.length < DIGEST_HEADER_SIZE)
    throw new RangeError(`digest buffer too short: ${buf?.length}`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const hashAlgorithm = view.getUint16(0, true);
  const size = view.getUint16(2, true);
  if (size > buf.length - DIGEST_HEADER_SIZE) throw new RangeError(`kernel digest size ${size} exceeds the buffer`);
  return { hashAlgorithm, digest: buf.slice(DIGEST_HEADER_SIZE, DIGEST_HEADER_SIZE + size) };
}

/** `struct fsverity_read_metadata_arg` asking for `length` bytes at `offset` into `bufAddr`. */
export function packReadMetadataArg(metadataType: number, offset: number, length: number, bufAddr: bigint): Uint8Array {
  if (!Number.isInteger(metadataType) || metadataType < 1) throw new RangeError(`bad metadata type: ${String(metadataType)}`);
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`bad offset: ${String(offset)}`);
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`bad length: ${String(length)}`);
  if (typeof bufAddr !== 'bigint') throw new TypeError(`buffer address must be a bigint, got ${typeof bufAddr}`);
  const arg = stableBytes(READ_METADATA_ARG_SIZE);
  const view = new DataView(arg.buffer);
  view.setBigUint64(READ_METADATA_ARG.metadataType, BigInt(metadataType), true);
  view.setBigUint64(READ_METADATA_ARG.offset, BigInt(offset), true);
  view.setBigUint64(READ_METADATA_ARG.length, BigInt(length), true);
  view.setBigUint64(READ_METADATA_ARG.bufPtr, bufAddr, true);
  return arg;
}

/** The fields of a `struct fsverity_descriptor` as stored by the kernel (§1.3; `sig_size` kept). */
export interface StoredDescriptor {
  readonly version: number;
  readonly hashAlgorithm: number;
  readonly logBlockSize: number;
  readonly blockSize: number;
  readonly salt: Uint8Array;
  readonly sigSize: number;
  readonly dataSize: bigint;
  /** All 64 bytes of the field; the digest-size prefix is the root hash. */
  readonly rootHashField: Uint8Array;
}

export function parseStoredDescriptor(bytes: Uint8Array): StoredDescriptor {
  if (!(bytes instanceof Uint8Array) || bytes.length < 256)
    throw new RangeError(`descriptor must be at least 256 bytes, got ${bytes?.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const saltSize = Math.min(bytes[3]!, MAX_SALT_SIZE);
  return {
    version: bytes[0]!,
    hashAlgorithm: bytes[1]!,
    logBlockSize: bytes[2]!,
    blockSize: 2 ** bytes[2]!,
    salt: bytes.slice(80, 80 + saltSize),
    sigSize: view.getUint32(4, true),
    dataSize: view.getBigUint64(8, true),
    rootHashField: bytes.slice(16, 80),
  };
}
