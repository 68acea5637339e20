/**
 * Overlay verity validation of a whole lower layer against its data-only layers
 * (docs/FORMATS.md §3.4, §3.5): per metacopy file, resolve the redirect in the data layers, then check
 * the data file the way `ovl_validate_verity` does — fs-verity enabled on it, and its digest
 * (algorithm and bytes) equal to the metacopy's.
 *
 * Each object is looked at once however many files point to it. Where the kernel can measure the
 * object (FS_IOC_MEASURE_VERITY), its measurement is what the kernel itself would compare; an
 * object on a verity-capable filesystem without verity enabled is reported `object-not-verity`
 * (overlayfs: "lower file has no fs-verity digest", EIO). Where the kernel has no fs-verity at all
 * (this build host, tmpfs…), or with `measure: false`, the digest is computed from the content on
 * the worker pool with the metacopy's algorithm and 4096-byte blocks — what composefs enables
 * objects with. Both come from the shared object-verification engine (src/verify/objects.ts);
 * this module is the overlay policy over it.
 *
 * Streaming: objects go to the pool while the lower layer is still being read. `auto` picks the
 * xattr prefix of the first entry carrying an unescaped metacopy or redirect (trusted when an
 * entry has both kinds); entries before it are held until then.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { sharedPool } from '../pool/pool.js';
import type { BulkDigestOptions } from '../pool/scheduler.js';
import type { VeritreeError } from '../report/errors.js';
import { analyzeEntry, type DataRequest, type VerityMode } from './analyze.js';
import { COMPOSEFS_VERITY_BLOCK_SIZE, XATTR_PREFIXES, type XattrPrefixName } from './constants.js';
import { compareFindings, finding, formatDigest, type Finding } from './finding.js';
import { prefixOf, type LowerEntry } from './lower.js';
import { resolveInLayers, type DataLayer, type LayerMiss, type Resolution } from './resolve.js';
import { ObjectVerifier, type ObjectRequest } from '../verify/objects.js';
import type { FileRef } from '../fs/open.js';

export interface CheckOptions extends Pick<BulkDigestOptions, 'threads' | 'pool' | 'backend' | 'signal'> {
  readonly dataLayers: readonly DataLayer[];
  readonly verity: VerityMode;
  readonly xattrPrefix?: XattrPrefixName | 'auto';
  /** Ask the kernel whether objects have fs-verity (default true). */
  readonly measure?: boolean;
}

export interface CheckSummary {
  /** Regular files in the lower layer. */
  readonly checked: number;
  readonly ok: number;
  /** Paths with at least one error finding. */
  readonly problems: number;
  readonly warnings: number;
  readonly xattrPrefix: XattrPrefixName;
  readonly verity: VerityMode;
  /** Distinct data files referenced / measured by the kernel / hashed in userspace. */
  readonly objects: { readonly referenced: number; readonly measured: number; readonly hashed: number };
}

export interface CheckResult {
  readonly findings: Finding[];
  readonly summary: CheckSummary;
}

/** What one object turned out to be (shared by every file pointing to it). */
interface ObjectState {
  readonly path: string;
  /** Where the lookup found it: opened, measured and hashed there and nowhere else. */
  readonly ref: FileRef;
  readonly dev: string;
  /** Kernel measurement, when fs-verity is enabled on the object. */
  measured?: { algorithm: number; hashAlg: string; digest: Uint8Array };
  /** The filesystem could measure but the object has no fs-verity. */
  notVerity?: boolean;
  /** Userspace digests by algorithm, and the algorithms already queued. */
  readonly computed: Map<string, Uint8Array>;
  readonly queued: Set<string>;
  error?: VeritreeError;
}

/** Let pool messages through every so often while the producer runs synchronous code. */
const YIELD_EVERY = 256;

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);

/** One (object, algorithm) on its way through the engine. */
interface OverlayRequest extends ObjectRequest {
  readonly object: ObjectState;
}

function missCode(misses: readonly LayerMiss[]): Finding['code'] {
  const kinds = new Set(misses.map((m) => m.kind));
  if (kinds.has('escapes')) return 'redirect-escapes-layer';
  if (kinds.has('not-regular')) return 'object-not-regular';
  if (kinds.has('failed')) return 'object-open-failed';
  return 'missing-object';
}

/** Long on purpose: prefix detection, lookup, the engine and the verdicts share the run's maps as closures. */
export async function checkLowerLayer(entries: Iterable<LowerEntry> | AsyncIterable<LowerEntry>, options: CheckOptions): Promise<CheckResult> {
  if (!options || !Array.isArray(options.dataLayers) || options.dataLayers.length === 0) throw new RangeError('checkLowerLayer needs at least one data layer');
  const wantedPrefix = options.xattrPrefix ?? 'auto';
  if (wantedPrefix !== 'auto' && !Object.hasOwn(XATTR_PREFIXES, wantedPrefix)) throw new RangeError(`xattr prefix must be trusted, user or auto, got ${String(wantedPrefix)}`);
  // Start the workers now: they boot while the lower layer is read.
  const pool = options.pool ?? sharedPool(options.threads);

  let prefix: XattrPrefixName | undefined = wantedPrefix === 'auto' ? undefined : wantedPrefix;
  const held: LowerEntry[] = [];
  const findings: Finding[] = [];
  const wanted: { request: DataRequest; object: ObjectState }[] = [];
  const resolutions = new Map<string, Resolution>();
  const objects = new Map<string, ObjectState>();
  const files = new Set<string>();

  // The kernel first (what overlayfs itself compares), hashing where it cannot measure; an object
  // the kernel says has no fs-verity is not hashed: overlayfs refuses it whatever its content.
  const verifier = new ObjectVerifier<OverlayRequest>(
    {
      kernel: options.measure === false ? 'never' : 'first',
      hashWithoutVerity: false,
      onUnsupported: 'hash',
      pool,
      blockSize: COMPOSEFS_VERITY_BLOCK_SIZE,
      ...(options.backend !== undefined ? { backend: options.backend } : {}),
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
    },
    (v) => {
      const o = v.request.object;
      if (v.kernel) o.measured = { algorithm: v.kernel.hashAlgorithm, hashAlg: v.kernel.hashAlg, digest: v.kernel.digest };
      if (v.notVerity) o.notVerity = true;
      if (v.computed) o.computed.set(v.computed.hashAlg, v.computed.digest);
      if (v.error && v.error.code !== 'interrupted') o.error ??= v.error;
    },
  );

  const process = async (e: LowerEntry, p: XattrPrefixName) => {
    if (e.type === 'file') files.add(e.path);
    const a = analyzeEntry(e, p, options.verity);
    findings.push(...a.findings);
    const r = a.request;
    if (r === undefined) return;
    let res = resolutions.get(r.redirect);
    if (res === undefined) {
      res = resolveInLayers(options.dataLayers, r.components);
      resolutions.set(r.redirect, res);
    }
    if (!res.ok) {
      findings.push(finding(missCode(res.misses), r.path,
        `object for redirect ${r.redirect} not usable in any data layer: ${res.misses.map((m) => m.reason).join('; ')}`,
        { redirect: r.redirect, ...(r.expected ? { expected: formatDigest(r.expected.hashAlg, r.expected.digest) } : {}) }));
      return;
    }
    let o = objects.get(res.path);
    if (o === undefined) {
      o = { path: res.path, ref: res.ref, dev: res.dev, computed: new Map(), queued: new Set() };
      objects.set(res.path, o);
    }
    if (r.expected === undefined) return;
    wanted.push({ request: r, object: o });
    const alg = r.expected.hashAlg;
    if (!o.queued.has(alg)) {
      o.queued.add(alg);
      await verifier.submit({ ref: o.ref, hashAlg: alg, dev: o.dev, object: o });
    }
  };

  let n = 0;
  try {
    for await (const e of entries as AsyncIterable<LowerEntry>) {
      if (++n % YIELD_EVERY === 0) await yieldToLoop();
      if (prefix === undefined) {
        prefix = prefixOf(e);
        if (prefix === undefined) {
          held.push(e);
          continue;
        }
        for (const h of held.splice(0)) await process(h, prefix);
      }
      await process(e, prefix);
    }
  } catch (err) {
    // A lower layer that fails midway (an image found invalid while streamed): hashing already
    // queued winds down on its own; the caller reports the error and closes the pool.
    verifier.finish().catch(() => {});
    throw err;
  }
  prefix ??= 'trusted';
  for (const h of held.splice(0)) await process(h, prefix);
  await verifier.finish();
  const measured = verifier.measured;
  const hashed = verifier.hashed;

  for (const w of wanted) findings.push(...verdict(w.request, w.object));
  findings.sort(compareFindings);
  const failing = new Set(findings.filter((f) => f.severity === 'error').map((f) => f.path));
  return {
    findings,
    summary: {
      checked: files.size,
      ok: files.size - [...failing].filter((p) => files.has(p)).length,
      problems: failing.size,
      warnings: findings.filter((f) => f.severity === 'warning').length,
      xattrPrefix: prefix,
      verity: options.verity,
      objects: { referenced: objects.size, measured, hashed },
    },
  };
}

function verdict(r: DataRequest, o: ObjectState): Finding[] {
  const exp = r.expected!;
  const expected = formatDigest(exp.hashAlg, exp.digest);
  const base = { object: o.path, redirect: r.redirect, expected };
  if (o.error !== undefined) return [finding('object-open-failed', r.path, `cannot read object: ${o.error.message}`, base)];
  const out: Finding[] = [];
  if (o.measured !== undefined) {
    const m = o.measured;
    if (m.algorithm !== exp.algorithm || !sameBytes(m.digest, exp.digest)) {
      out.push(finding('object-digest-mismatch', r.path,
        `object has fs-verity enabled with a different digest (kernel measurement)${m.algorithm !== exp.algorithm ? `, algorithm ${m.hashAlg} instead of ${exp.hashAlg}` : ''}`,
        { ...base, actual: formatDigest(m.hashAlg, m.digest) }));
    }
    return out;
  }
  if (o.notVerity === true) {
    out.push(finding('object-not-verity', r.path, 'object does not have fs-verity enabled; overlayfs fails the open with EIO (lower file has no fs-verity digest)', base));
  }
  const actual = o.computed.get(exp.hashAlg);
  if (actual !== undefined && !sameBytes(actual, exp.digest)) {
    out.push(finding('object-digest-mismatch', r.path, `object content has a different fs-verity digest (computed, ${exp.hashAlg}, ${COMPOSEFS_VERITY_BLOCK_SIZE}-byte blocks)`,
      { ...base, actual: formatDigest(exp.hashAlg, actual) }));
  }
  return out;
}
