/**
 * `overlay.metacopy` parsing, exactly as overlayfs reads it (docs/FORMATS.md §3.3, §3.5):
 *
 * - at lookup, `ovl_check_metacopy_xattr(…, NULL)` (fs/overlayfs/util.c) only looks at the size:
 *   0 bytes = metacopy without digest, 1..3 bytes = EIO ("has too small xattr");
 * - `ovl_lookup` (namei.c) sets OVL_HAS_DIGEST only when the xattr is longer than 4 bytes, so a
 *   4-byte header is "no digest" whatever its bytes say (they are never read);
 * - on open, `ovl_validate_verity` re-reads it with a 68-byte buffer (longer → ERANGE) and checks
 *   `version == 0` and `len == size` (EIO otherwise); `digest_algo == 0` then means "no digest";
 *   otherwise the digest is `len - 4` bytes and must match the data file's fs-verity algorithm,
 *   length and bytes. `flags` is never looked at by the kernel.
 *
 * The digest size must match the algorithm to ever be accepted (an unknown algorithm, or a
 * SHA-256 metacopy with 64 digest bytes, fails against every file), so those are reported as
 * invalid here rather than as a mismatch with one particular object.
 */
import {
  OVL_METACOPY_MAX_SIZE, OVL_METACOPY_MIN_SIZE, OVL_METACOPY_VERSION, VERITY_ALGS,
} from './constants.js';

export type Metacopy =
  /** No xattr: not a metacopy file (its data is its own). */
  | { readonly kind: 'absent' }
  /** A metacopy file whose data is elsewhere, without a digest to verify it by. */
  | { readonly kind: 'no-digest'; readonly flags: number; readonly note?: string }
  | {
      readonly kind: 'digest';
      /** FS_VERITY_HASH_ALG_* number. */
      readonly algorithm: number;
      readonly hashAlg: 'sha256' | 'sha512';
      readonly digest: Uint8Array;
      readonly flags: number;
    }
  /** The kernel refuses it: at lookup (even stat fails) or at open (verity=on|require). */
  | { readonly kind: 'invalid'; readonly when: 'lookup' | 'open'; readonly reason: string };

/** Parses the stored value of `overlay.metacopy` (`undefined` = xattr absent). */
export function parseMetacopy(value: Uint8Array | undefined): Metacopy {
  if (value === undefined) return { kind: 'absent' };
  if (!(value instanceof Uint8Array)) throw new TypeError(`metacopy value must be a Uint8Array, got ${typeof value}`);
  const size = value.length;
  if (size === 0) return { kind: 'no-digest', flags: 0 };
  if (size < OVL_METACOPY_MIN_SIZE) {
    return { kind: 'invalid', when: 'lookup', reason: `metacopy xattr of ${size} bytes is too small (0 or at least ${OVL_METACOPY_MIN_SIZE}); the kernel fails the lookup with EIO` };
  }
  if (size === OVL_METACOPY_MIN_SIZE) {
    // OVL_HAS_DIGEST needs more than the header; the header bytes are never validated.
    return { kind: 'no-digest', flags: value[2]!, note: 'a 4-byte metacopy header carries no digest (the kernel does not read its fields)' };
  }
  if (size > OVL_METACOPY_MAX_SIZE) {
    return { kind: 'invalid', when: 'open', reason: `metacopy xattr of ${size} bytes is longer than ${OVL_METACOPY_MAX_SIZE}; the kernel's read fails with ERANGE` };
  }
  const [version, len, flags, algorithm] = [value[0]!, value[1]!, value[2]!, value[3]!];
  if (version !== OVL_METACOPY_VERSION) {
    return { kind: 'invalid', when: 'open', reason: `metacopy version ${version} is not supported (only ${OVL_METACOPY_VERSION}); EIO on open` };
  }
  if (len !== size) {
    return { kind: 'invalid', when: 'open', reason: `metacopy len field ${len} differs from the xattr size ${size}; EIO on open` };
  }
  if (algorithm === 0) return { kind: 'no-digest', flags, note: `digest_algo 0: the ${size - OVL_METACOPY_MIN_SIZE} digest bytes are ignored` };
  const alg = VERITY_ALGS.get(algorithm);
  if (alg === undefined) {
    return { kind: 'invalid', when: 'open', reason: `digest algorithm ${algorithm} is not an fs-verity algorithm (1 sha256, 2 sha512); no data file can match (EIO on open)` };
  }
  const digestSize = len - OVL_METACOPY_MIN_SIZE;
  if (digestSize !== alg.digestSize) {
    return { kind: 'invalid', when: 'open', reason: `${digestSize}-byte digest for ${alg.name}, which has ${alg.digestSize}-byte digests; no data file can match (EIO on open)` };
  }
  return { kind: 'digest', algorithm, hashAlg: alg.name, digest: value.slice(OVL_METACOPY_MIN_SIZE, len), flags };
}

/** The 4-byte header + digest that overlayfs and mkcomposefs write (`00 24 00 01` + 32 bytes for SHA-256). */
export function formatMetacopy(algorithm: number, digest: Uint8Array, flags = 0): Uint8Array {
  const alg = VERITY_ALGS.get(algorithm);
  if (alg === undefined) throw new RangeError(`unknown fs-verity algorithm ${algorithm}`);
  if (!(digest instanceof Uint8Array) || digest.length !== alg.digestSize) {
    throw new RangeError(`${alg.name} digest must be ${alg.digestSize} bytes, got ${digest instanceof Uint8Array ? digest.length : typeof digest}`);
  }
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xff) throw new RangeError(`flags must be a byte, got ${flags}`);
  const out = new Uint8Array(OVL_METACOPY_MIN_SIZE + digest.length);
  out.set([OVL_METACOPY_VERSION, out.length, flags, algorithm]);
  out.set(digest, OVL_METACOPY_MIN_SIZE);
  return out;
}
