/**
 * The verdict overlayfs would reach on one lower-layer entry before touching any data file: which
 * xattrs it reads (unescaped, with the mount's prefix), what fails at lookup, what fails at open,
 * and — when the data file must be verified — which digest it must have.
 *
 * Mirrors `ovl_lookup_single`/`ovl_lookup` (namei.c) and `ovl_maybe_validate_verity`/
 * `ovl_validate_verity` (util.c) for `verity=on|require` (docs/FORMATS.md §3.3–§3.6):
 * on = verify when the metacopy carries a digest; require = a metacopy without a digest is EIO.
 */
import {
  POSTFIX_LEGACY_VERITY, POSTFIX_METACOPY, POSTFIX_OPAQUE, POSTFIX_REDIRECT, XATTR_PREFIXES, type XattrPrefixName,
} from './constants.js';
import { finding, formatDigest, type Finding } from './finding.js';
import { parseLegacyVerity } from './legacy.js';
import type { LowerEntry } from './lower.js';
import { parseMetacopy } from './metacopy.js';
import { parseRedirect } from './redirect.js';

export type VerityMode = 'on' | 'require';

export const VERITY_MODES: readonly VerityMode[] = ['on', 'require'];

/** The data file a metacopy file needs, and the digest it must have (if any). */
export interface DataRequest {
  readonly path: string;
  readonly redirect: string;
  readonly components: readonly Uint8Array[];
  readonly expected?: {
    readonly algorithm: number;
    readonly hashAlg: 'sha256' | 'sha512';
    readonly digest: Uint8Array;
    readonly source: 'metacopy' | 'legacy';
  };
}

export interface Analysis {
  readonly findings: Finding[];
  readonly request?: DataRequest;
}

/** Full xattr names per prefix, built once. */
const NAMES = new Map(
  (Object.keys(XATTR_PREFIXES) as XattrPrefixName[]).map((k) => [
    k,
    new Map([POSTFIX_METACOPY, POSTFIX_REDIRECT, POSTFIX_LEGACY_VERITY, POSTFIX_OPAQUE].map((p) => [p, `${XATTR_PREFIXES[k]}${p}`])),
  ]),
);

/** The overlay xattr `postfix` as the kernel's getxattr would see it (escaped names never match). */
function overlayXattr(entry: LowerEntry, prefix: XattrPrefixName, postfix: string): Uint8Array | undefined {
  return entry.xattrs.get(NAMES.get(prefix)!.get(postfix)!);
}

export function analyzeEntry(entry: LowerEntry, prefix: XattrPrefixName, mode: VerityMode): Analysis {
  if (mode !== 'on' && mode !== 'require') throw new RangeError(`verity mode must be on or require, got ${String(mode)}`);
  const findings: Finding[] = [];
  if (entry.error !== undefined) {
    findings.push(finding('lower-read-failed', entry.path, entry.error.message));
    return { findings };
  }
  if (entry.type === 'directory') return { findings: directoryFindings(entry, prefix) };
  // Only regular files can be metacopy files (ovl_check_metacopy_xattr).
  if (entry.type !== 'file') return { findings };

  const metacopy = parseMetacopy(overlayXattr(entry, prefix, POSTFIX_METACOPY));
  const legacy = parseLegacyVerity(overlayXattr(entry, prefix, POSTFIX_LEGACY_VERITY));
  if (metacopy.kind === 'absent') {
    if (legacy.kind !== 'absent') {
      findings.push(finding('legacy-verity-xattr', entry.path, 'legacy overlay.verity on a file without overlay.metacopy: its data is its own, the xattr is ignored'));
    }
    return { findings }; // the file's own (inline) data
  }
  if (metacopy.kind === 'invalid' && metacopy.when === 'lookup') {
    findings.push(finding('metacopy-invalid', entry.path, metacopy.reason));
    return { findings };
  }

  const redirectValue = overlayXattr(entry, prefix, POSTFIX_REDIRECT);
  const redirect = parseRedirect(redirectValue);
  if (redirect.kind === 'invalid') {
    findings.push(finding('redirect-invalid', entry.path, redirect.reason));
    return { findings };
  }
  if (redirect.kind !== 'absolute') {
    const what = redirect.kind === 'absent' ? 'no overlay.redirect' : `a relative overlay.redirect (${JSON.stringify(redirect.text)})`;
    findings.push(finding('redirect-invalid', entry.path,
      `metacopy file with ${what}: data-only layers are reached only through an absolute redirect; the lookup fails with EIO (metacopy with no lower data found)`));
    return { findings };
  }

  let expected: DataRequest['expected'];
  if (metacopy.kind === 'invalid') {
    findings.push(finding('metacopy-invalid', entry.path, metacopy.reason, { redirect: redirect.text }));
  } else if (metacopy.kind === 'digest') {
    expected = { algorithm: metacopy.algorithm, hashAlg: metacopy.hashAlg, digest: metacopy.digest, source: 'metacopy' };
    if (legacy.kind !== 'absent') {
      findings.push(finding('legacy-verity-xattr', entry.path, 'legacy overlay.verity ignored: overlay.metacopy carries the digest'));
    }
  } else {
    if (legacy.kind === 'digest') {
      expected = { algorithm: legacy.algorithm, hashAlg: legacy.hashAlg, digest: legacy.digest, source: 'legacy' };
      findings.push(finding('legacy-verity-xattr', entry.path,
        'digest only in the legacy overlay.verity xattr (composefs 0.1.x); no kernel reads it — the object is checked against it here',
        { expected: formatDigest(legacy.hashAlg, legacy.digest) }));
    } else if (legacy.kind === 'unrecognized') {
      findings.push(finding('legacy-verity-xattr', entry.path, `legacy overlay.verity not understood: ${legacy.reason}`));
    }
    if (mode === 'require') {
      findings.push(finding('metacopy-no-digest', entry.path,
        `metacopy file has no digest${metacopy.note !== undefined ? ` (${metacopy.note})` : ''}; verity=require fails its open with EIO`, { redirect: redirect.text }));
    }
  }
  const flags = metacopy.kind === 'digest' || metacopy.kind === 'no-digest' ? metacopy.flags : 0;
  if (flags !== 0 && metacopy.kind === 'digest') {
    findings.push(finding('metacopy-unknown-flags', entry.path, `metacopy flags 0x${flags.toString(16).padStart(2, '0')} are not defined (the kernel ignores them)`));
  }
  return { findings, request: { path: entry.path, redirect: redirect.text, components: redirect.components, ...(expected ? { expected } : {}) } };
}

/**
 * Directories: the kernel reads a directory's redirect unless it is opaque (`opaque` = "y"), and
 * an invalid one fails the lookup of the directory (and so of everything below it).
 */
function directoryFindings(entry: LowerEntry, prefix: XattrPrefixName): Finding[] {
  const opaque = overlayXattr(entry, prefix, POSTFIX_OPAQUE);
  if (opaque !== undefined && opaque.length === 1 && opaque[0] === 0x79) return [];
  const redirect = parseRedirect(overlayXattr(entry, prefix, POSTFIX_REDIRECT));
  return redirect.kind === 'invalid' ? [finding('redirect-invalid', entry.path, `directory: ${redirect.reason}`)] : [];
}
