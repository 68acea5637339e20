/**
 * `verifyCas(dir)`: the fsck of a content-addressed object store. Detects the layout, walks the
 * store (src/cas/scan.ts), hashes every well-named object on the worker pool and compares the
 * fs-verity digest with the name, optionally moves corrupt objects aside, and hands each finding
 * to the caller the moment it is known. It keeps counts, never lists: memory does not grow with
 * the store. Nothing in the store is written unless a quarantine directory is given.
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { BackendChoice } from '../backends/index.js';
import { sharedPool, type TaskRunner } from '../pool/pool.js';
import { usageError, VeritreeError, asVeritreeError, withPath } from '../report/errors.js';
import { enableVerity } from '../kernel/async.js';
import { detectLayout, type AlgorithmSource, type LayoutName } from './layout.js';
import {
  digestMismatch,
  enableFailed,
  fileChangedWhileHashed,
  kernelUserspaceMismatch,
  objectNotVerity,
  verityNotSupported,
  metadataParseFailed,
  openFailed,
  quarantineFailed,
  unexpectedFileType,
  verityFailed,
  type Finding,
} from './findings.js';
import { openQuarantine, quarantineObject, type QuarantineTarget } from './quarantine.js';
import { scanStore, type StoreObject } from './scan.js';
import { checkRepository, type RepositorySummary } from './repository.js';
import { openDirectory, type DirHandle } from '../fs/dir.js';
import { ObjectVerifier, type ObjectRequest, type ObjectVerdict } from '../verify/objects.js';

/** An object on its way through the engine, with the scan's handle on it. */
interface StoreRequest extends ObjectRequest {
  readonly obj: StoreObject;
}

export interface CasRunInfo {
  readonly store: string;
  readonly layout: LayoutName;
  readonly hashAlg: string;
  readonly blockSize: number;
  readonly algorithmSource: AlgorithmSource;
}

/**
 * Where an object's digest comes from: `userspace` hashes every object; `kernel` asks the kernel
 * (FS_IOC_MEASURE_VERITY, O(1) per object) and reports objects without fs-verity; `auto` asks the
 * kernel and hashes only objects it cannot vouch for; `both` does both and cross-checks them.
 */
export type MeasureMode = 'userspace' | 'kernel' | 'auto' | 'both';
export const MEASURE_MODES: readonly MeasureMode[] = ['userspace', 'kernel', 'auto', 'both'];

export interface CasSummary extends CasRunInfo {
  /** Entries where an object belongs that were judged; `ok` of them hashed to their name. */
  readonly objects: { readonly checked: number; readonly ok: number };
  readonly measure: MeasureMode;
  /** Objects whose digest the kernel reported (FS_IOC_MEASURE_VERITY). */
  readonly kernelMeasured: number;
  /** Objects `--enable` turned fs-verity on for (after their content matched their name). */
  readonly enabled: number;
  readonly bytesHashed: number;
  /** Findings in all, and per code. */
  readonly problems: number;
  readonly byCode: Readonly<Record<string, number>>;
  readonly quarantined: number;
  /** Stopped early (SIGINT): the counts cover only what was judged before. */
  readonly interrupted: boolean;
  /** composefs-rs repositories: images/, streams/ and refs judged (src/cas/repository.ts). */
  readonly repository?: RepositorySummary;
  readonly elapsedMs: number;
}

export interface VerifyCasOptions {
  /** The pool to hash on; default the shared pool (sized by `threads`), created only once the
   *  layout is known — the caller closes it (closeSharedPool). */
  readonly pool?: TaskRunner;
  readonly threads?: number;
  /** Force a layout instead of detecting it. */
  readonly layout?: LayoutName;
  readonly backend?: BackendChoice;
  /** Stop walking and submitting; work already on the pool still finishes and is reported. */
  readonly signal?: AbortSignal;
  /** Move objects whose digest does not match their name into this directory. */
  readonly quarantineDir?: string;
  /** Where digests come from (default `userspace`). */
  readonly measure?: MeasureMode;
  /** Enable fs-verity on objects that lack it, once their content has matched their name. */
  readonly enable?: boolean;
  readonly onStart?: (info: CasRunInfo) => void | Promise<void>;
  /** Each finding, once (quarantine already attempted). Awaited: a slow sink slows the check. */
  readonly onFinding: (f: Finding) => void | Promise<void>;
  /** After each judged object: running totals. */
  readonly onProgress?: (objectsChecked: number, bytesHashed: number) => void;
}

/**
 * Throws a VeritreeError when the check cannot run at all (store missing, unknown layout, …).
 *
 * Long on purpose: the scan, the engine and the policy share the run's counters and the quarantine handle as closures.
 */
export async function verifyCas(dir: string, opts: VerifyCasOptions): Promise<CasSummary> {
  const started = performance.now();
  // One spelling of the root (a trailing slash dropped).
  const root = path.normalize(dir).replace(/(.)\/+$/, '$1');
  const layout = await detectLayout(root, opts.layout);
  const objectsDir = path.resolve(root, layout.objectsRel);
  if (opts.quarantineDir !== undefined && isInside(path.resolve(opts.quarantineDir), objectsDir))
    throw usageError(`--quarantine ${opts.quarantineDir}: must not be inside the store's objects (${objectsDir})`);

  if (opts.enable && (opts.measure ?? 'userspace') === 'userspace')
    throw usageError('--enable needs --measure kernel, auto or both: the kernel says which objects lack fs-verity');

  // The quarantine directory is judged by where it really is, not by its spelling (symlinks).
  let quarantine: QuarantineTarget | undefined;
  if (opts.quarantineDir !== undefined) {
    let objects: DirHandle;
    try {
      objects = openDirectory(objectsDir, { follow: true });
    } catch (err) {
      throw asVeritreeError(err, objectsDir);
    }
    try {
      quarantine = openQuarantine(opts.quarantineDir, objects);
    } finally {
      objects.release();
    }
  }
  try {
    return await checkStore();
  } finally {
    quarantine?.close();
  }

  async function checkStore(): Promise<CasSummary> {

  const info: CasRunInfo = { store: dir, layout: layout.name, hashAlg: layout.hashAlg, blockSize: layout.blockSize, algorithmSource: layout.algorithmSource };
  await opts.onStart?.(info);

  let checked = 0;
  let ok = 0;
  let bytes = 0;
  let problems = 0;
  let quarantined = 0;
  const byCode: Record<string, number> = {};
  const report = async (f: Finding) => {
    problems++;
    byCode[f.code] = (byCode[f.code] ?? 0) + 1;
    await opts.onFinding(f);
  };
  const judged = () => {
    checked++;
    opts.onProgress?.(checked, bytes);
  };

  if (layout.metadataProblem !== undefined) await report(metadataParseFailed('meta.json', `${layout.metadataProblem}; algorithm taken from ${layout.algorithmSource === 'object-names' ? 'object name lengths' : 'the composefs-rs default (sha512)'}`));

  const mode: MeasureMode = opts.measure ?? 'userspace';
  let enabled = 0;
  let enableUnsupported = false;

  /** Compares a digest with the object's name; quarantines and reports a mismatch. */
  const judgeDigest = async (obj: StoreObject, hashAlg: string, hex: string, size: number) => {
    const rel = obj.rel;
    bytes += size;
    const expected = expectedHex(rel);
    if (hex === expected && hashAlg === layout.hashAlg) {
      ok++;
      judged();
      return true;
    }
    const f = digestMismatch(rel, hashAlg, expected, hex);
    let notMoved: Finding | undefined;
    if (quarantine !== undefined) {
      const q = quarantineObject(obj, quarantine);
      if (q.ok) {
        f.quarantinedTo = q.to;
        quarantined++;
      } else notMoved = quarantineFailed(rel, q.why, q.errno);
    }
    await report(f);
    if (notMoved) await report(notMoved);
    judged();
    return false;
  };

  const enableObject = async (obj: StoreObject) => {
    const rel = obj.rel;
    if (enableUnsupported) return;
    try {
      await enableVerity(obj.ref, { hashAlg: layout.hashAlg, blockSize: layout.blockSize });
      enabled++;
    } catch (err) {
      const e = asVeritreeError(err, obj.path);
      if (e.code === 'verity-already-enabled') return;
      if (e.code === 'verity-not-supported') {
        // Said once: every other object lives on the same filesystem.
        enableUnsupported = true;
        await report(verityNotSupported(rel, `--enable: ${e.message}`, e.errno));
        return;
      }
      await report(enableFailed(rel, e.message, e.errno));
    }
  };

  /**
   * The policy over the engine's verdict: `userspace` hashes everything; `kernel` trusts the
   * kernel and reports objects without fs-verity (hashing them only for --enable); `auto` hashes
   * what the kernel cannot vouch for; `both` does both and cross-checks.
   */
  const onVerdict = async (v: ObjectVerdict<StoreRequest>) => {
    const obj = v.request.obj;
    const rel = obj.rel;
    try {
      // kernel / both on a filesystem without fs-verity: nothing can be measured, the check cannot run.
      if (v.unsupported && mode !== 'auto') throw withPath(v.unsupported, rel, `--measure ${mode}: `);
      if (v.error) {
        // A large file cut short by the interrupt was not judged: leave it out of the counts.
        if (v.error.code === 'interrupted') return;
        await report(findingForError(rel, v.error));
        judged();
        return;
      }
      if (v.notVerity && !opts.enable && mode !== 'auto') await report(objectNotVerity(rel));
      if (v.kernel && !v.computed) {
        await judgeDigest(obj, v.kernel.hashAlg, v.kernel.hex, 0);
        return;
      }
      if (!v.computed) {
        judged(); // kernel mode, no fs-verity, no --enable: reported above, not hashed
        return;
      }
      if (v.kernel && v.kernel.hex !== v.computed.hex) await report(kernelUserspaceMismatch(rel, v.computed.hashAlg, v.kernel.hex, v.computed.hex));
      const matched = await judgeDigest(obj, v.computed.hashAlg, v.computed.hex, v.computed.size);
      if (matched && opts.enable && (v.notVerity || v.unsupported)) await enableObject(obj);
    } finally {
      obj.release();
    }
  };

  const verifier = new ObjectVerifier<StoreRequest>(
    {
      kernel: mode === 'userspace' ? 'never' : mode === 'both' ? 'both' : 'first',
      hashWithoutVerity: mode !== 'kernel' || opts.enable === true,
      onUnsupported: mode === 'auto' ? 'hash' : 'report',
      pool: opts.pool ?? sharedPool(opts.threads),
      blockSize: layout.blockSize,
      ...(opts.backend !== undefined ? { backend: opts.backend } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    },
    onVerdict,
  );
  const sink = {
    finding: async (f: Finding, objectSlot: boolean) => {
      await report(f);
      if (objectSlot) judged();
    },
  };
  for await (const obj of scanStore(layout, sink, opts.signal)) {
    await verifier.submit({ ref: obj.ref, dir: obj.dir, hashAlg: layout.hashAlg, dev: obj.dir.stat.dev, obj });
  }
  await verifier.finish();
  const kernelMeasured = verifier.measured;

  // A composefs-rs repository is more than its objects: every image must be what a
  // verity=require mount accepts, every stream and ref link must lead where it should.
  let repository: RepositorySummary | undefined;
  if (layout.name === 'composefs-rs' && opts.signal?.aborted !== true) {
    repository = await checkRepository(root, {
      hashAlg: layout.hashAlg,
      onFinding: report,
      pool: opts.pool ?? sharedPool(opts.threads),
      ...(opts.backend !== undefined ? { backend: opts.backend } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      measure: mode === 'userspace' ? false : 'auto',
    });
  }

  return {
    ...info,
    objects: { checked, ok },
    measure: mode,
    kernelMeasured,
    enabled,
    bytesHashed: bytes,
    problems,
    byCode,
    quarantined,
    interrupted: opts.signal?.aborted === true,
    ...(repository !== undefined ? { repository } : {}),
    elapsedMs: Math.round(performance.now() - started),
  };
  }
}

/** The digest an object's path promises: fan-out directory name + file name. */
function expectedHex(rel: string): string {
  const slash = rel.lastIndexOf('/');
  const parent = rel.slice(0, slash);
  return parent.slice(parent.lastIndexOf('/') + 1) + rel.slice(slash + 1);
}

/** A pool failure as a finding: cannot open, changed under us, or could not be read through. */
function findingForError(rel: string, e: VeritreeError): Finding {
  switch (e.code) {
    case 'file-changed':
      return fileChangedWhileHashed(rel, e.message);
    case 'permission-denied':
    case 'not-found':
      return openFailed(rel, e.message, e.errno);
    case 'is-a-directory':
    case 'not-a-regular-file':
      return unexpectedFileType(rel, e.message, 'an object (regular file)');
    default:
      return verityFailed(rel, e.message, e.errno);
  }
}

function isInside(p: string, dir: string): boolean {
  const r = path.relative(dir, p);
  return r === '' || (!r.startsWith('..') && !path.isAbsolute(r));
}
