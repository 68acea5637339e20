/**
 * `struct fsverity_descriptor` (256 bytes, little-endian) and the fs-verity file digest, which is
 * the hash of that descriptor. Also `struct fsverity_formatted_digest` for `--for-builtin-sig`.
 *
 * Spec: docs/FORMATS.md §1.3 (fsverity-utils `common/fsverity_uapi.h`, kernel
 * `fs/verity/open.c` compute_file_digest) and §1.4 (`programs/cmd_digest.c`).
 */
import type { VerityParams } from '../params.js';

export const DESCRIPTOR_SIZE = 256;

/** Byte offsets of the descriptor fields. */
export const DESC = Object.freeze({
  version: 0,
  hashAlgorithm: 1,
  logBlockSize: 2,
  saltSize: 3,
  sigSize: 4,
  dataSize: 8,
  rootHash: 16,
  salt: 80,
  reserved: 112,
});

export function buildDescriptor(params: VerityParams, dataSize: bigint | number, rootHash: Uint8Array): Uint8Array {
  if (rootHash.length !== params.alg.digestSize)
    throw new RangeError(`root hash is ${rootHash.length} bytes; expected ${params.alg.digestSize}`);
  const desc = new Uint8Array(DESCRIPTOR_SIZE);
  const view = new DataView(desc.buffer);
  desc[DESC.version] = 1;
  desc[DESC.hashAlgorithm] = params.alg.id;
  desc[DESC.logBlockSize] = params.logBlockSize;
  desc[DESC.saltSize] = params.salt.length;
  // sig_size stays 0: the kernel zeroes it before hashing.
  view.setBigUint64(DESC.dataSize, BigInt(dataSize), true);
  desc.set(rootHash, DESC.rootHash);
  desc.set(params.salt, DESC.salt);
  return desc;
}

/** `"FSVerity" || le16 alg || le16 size || digest` — what a builtin signature signs. */
export function formattedDigest(algId: number, digest: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + digest.length);
  out.set(Buffer.from('FSVerity', 'latin1'), 0);
  const view = new DataView(out.buffer);
  view.setUint16(8, algId, true);
  view.setUint16(10, digest.length, true);
  out.set(digest, 12);
  return out;
}
