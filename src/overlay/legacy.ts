/**
 * Legacy `overlay.verity` (docs/FORMATS.md §3.6): never merged into the kernel, but composefs v0.1 …
 * v0.1.3 wrote it next to an empty `overlay.metacopy` — the raw fs-verity digest, nothing else
 * (the v1 patch layout: accepted iff its length is the data file's digest size). No kernel reads
 * it, so such images get no verification from overlayfs; we still check the objects against it.
 * The v2/v3 layout (algorithm byte + digest) was never written by any release and is not decoded.
 */
import { FS_VERITY_HASH_ALG_SHA256, FS_VERITY_HASH_ALG_SHA512, VERITY_ALGS } from './constants.js';

export type LegacyVerity =
  | { readonly kind: 'absent' }
  | { readonly kind: 'digest'; readonly algorithm: number; readonly hashAlg: 'sha256' | 'sha512'; readonly digest: Uint8Array }
  | { readonly kind: 'unrecognized'; readonly reason: string };

export function parseLegacyVerity(value: Uint8Array | undefined): LegacyVerity {
  if (value === undefined) return { kind: 'absent' };
  if (!(value instanceof Uint8Array)) throw new TypeError(`verity value must be a Uint8Array, got ${typeof value}`);
  for (const algorithm of [FS_VERITY_HASH_ALG_SHA256, FS_VERITY_HASH_ALG_SHA512]) {
    const alg = VERITY_ALGS.get(algorithm)!;
    if (value.length === alg.digestSize) return { kind: 'digest', algorithm, hashAlg: alg.name, digest: value.slice() };
  }
  return { kind: 'unrecognized', reason: `${value.length}-byte value is not a raw SHA-256 (32) or SHA-512 (64) digest` };
}
