/**
 * fs-verity parameters: hash algorithms, Merkle block sizes and salts — parsing and validation
 * in one place.
 *
 * Spec: docs/FORMATS.md §1.1 (fsverity-utils `lib/hash_algs.c`, `lib/compute_digest.c`,
 * `common/fsverity_uapi.h`; kernel `fs/verity/open.c`).
 */
import { invalidArgument } from './report/errors.js';

export type HashAlg = 'sha256' | 'sha512';

export interface HashAlgInfo {
  readonly name: HashAlg;
  /** `FS_VERITY_HASH_ALG_*` number used in the descriptor and the ioctls. */
  readonly id: number;
  /** Digest size in bytes. */
  readonly digestSize: number;
  /** Compression-function input size; the salt is zero-padded to a multiple of it. */
  readonly hashBlockSize: number;
}

/** docs/FORMATS.md §1.1: FS_VERITY_HASH_ALG_SHA256 = 1, FS_VERITY_HASH_ALG_SHA512 = 2. */
export const HASH_ALGS: Readonly<Record<HashAlg, HashAlgInfo>> = Object.freeze({
  sha256: Object.freeze({ name: 'sha256', id: 1, digestSize: 32, hashBlockSize: 64 }),
  sha512: Object.freeze({ name: 'sha512', id: 2, digestSize: 64, hashBlockSize: 128 }),
});

/** fsverity-utils `FS_VERITY_BLOCK_SIZE_DEFAULT`. */
export const DEFAULT_BLOCK_SIZE = 4096;
/** `sizeof(((struct fsverity_descriptor *)0)->salt)`. */
export const MAX_SALT_SIZE = 32;
/** Largest block size we accept; fsverity-utils accepts any power of two, its tests go to 64 KiB. */
export const MAX_BLOCK_SIZE = 1 << 20;

export interface VerityParams {
  readonly alg: HashAlgInfo;
  /** Merkle tree block size in bytes, a power of two ≥ 2 × digest size. */
  readonly blockSize: number;
  readonly logBlockSize: number;
  /** Raw salt, 0–32 bytes (stored unpadded in the descriptor). */
  readonly salt: Uint8Array;
  /** Salt zero-padded to a multiple of the hash block size; prepended to every hashed block. */
  readonly paddedSalt: Uint8Array;
}

export interface VerityParamsInput {
  hashAlg?: HashAlg | string;
  blockSize?: number;
  /** Raw bytes or a hex string. */
  salt?: Uint8Array | string;
}

export function hashAlgInfo(name: string): HashAlgInfo {
  if (typeof name !== 'string') throw new TypeError(`hash algorithm must be a string, got ${typeof name}`);
  const info = (HASH_ALGS as Record<string, HashAlgInfo | undefined>)[name.toLowerCase()];
  if (!info) throw invalidArgument('unknown-hash-alg', `unknown hash algorithm ${JSON.stringify(name)} (expected sha256 or sha512)`);
  return info;
}

export function hashAlgById(id: number): HashAlgInfo | undefined {
  return id === 1 ? HASH_ALGS.sha256 : id === 2 ? HASH_ALGS.sha512 : undefined;
}

export function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

export function validateBlockSize(blockSize: number, alg: HashAlgInfo): number {
  if (typeof blockSize !== 'number' || !Number.isInteger(blockSize))
    throw invalidArgument('invalid-block-size', `block size must be an integer, got ${String(blockSize)}`);
  if (!isPowerOfTwo(blockSize))
    throw invalidArgument('invalid-block-size', `block size ${blockSize} is not a power of two`);
  if (blockSize < 2 * alg.digestSize || blockSize > MAX_BLOCK_SIZE)
    throw invalidArgument(
      'invalid-block-size',
      `block size ${blockSize} out of range for ${alg.name} (${2 * alg.digestSize}..${MAX_BLOCK_SIZE})`,
    );
  return blockSize;
}

/** Parses a salt given as hex (fsverity's `--salt=HEX`). */
export function parseSaltHex(hex: string): Uint8Array {
  if (typeof hex !== 'string') throw new TypeError(`salt must be a hex string, got ${typeof hex}`);
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex))
    throw invalidArgument('invalid-salt', `salt ${JSON.stringify(hex)} is not a hex string of whole bytes`);
  const salt = Uint8Array.from(Buffer.from(hex, 'hex'));
  if (salt.length > MAX_SALT_SIZE)
    throw invalidArgument('invalid-salt', `salt is ${salt.length} bytes; at most ${MAX_SALT_SIZE} allowed`);
  return salt;
}

export function resolveParams(input: VerityParamsInput = {}): VerityParams {
  const alg = hashAlgInfo(input.hashAlg ?? 'sha256');
  const blockSize = validateBlockSize(input.blockSize ?? DEFAULT_BLOCK_SIZE, alg);
  let salt: Uint8Array;
  if (input.salt === undefined) salt = new Uint8Array(0);
  else if (typeof input.salt === 'string') salt = parseSaltHex(input.salt);
  else if (input.salt instanceof Uint8Array) {
    if (input.salt.length > MAX_SALT_SIZE)
      throw invalidArgument('invalid-salt', `salt is ${input.salt.length} bytes; at most ${MAX_SALT_SIZE} allowed`);
    salt = Uint8Array.from(input.salt);
  } else throw new TypeError(`salt must be a Uint8Array or hex string, got ${typeof input.salt}`);
  return {
    alg,
    blockSize,
    logBlockSize: Math.log2(blockSize),
    salt,
    paddedSalt: padSalt(salt, alg),
  };
}

/** docs/FORMATS.md §1.2 step 1: zero-pad to `roundup(salt_size, hash_block_size)`; empty stays empty. */
export function padSalt(salt: Uint8Array, alg: HashAlgInfo): Uint8Array {
  if (salt.length === 0) return new Uint8Array(0);
  const padded = new Uint8Array(Math.ceil(salt.length / alg.hashBlockSize) * alg.hashBlockSize);
  padded.set(salt);
  return padded;
}

/** Canonical key for caching per-parameter state (hashers, prefix states). */
export function paramsKey(p: VerityParams): string {
  return `${p.alg.name}/${p.blockSize}/${Buffer.from(p.salt).toString('hex')}`;
}
