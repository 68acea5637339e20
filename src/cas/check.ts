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
import { digestFiles } from '../pool/scheduler.js';
import { sharedPool, type TaskRunner } from '../pool/pool.js';
import { usageError, type VeritreeError } from '../report/errors.js';
import { detectLayout, type AlgorithmSource, type LayoutName } from '../walk/cas-layout.js';
import {
  digestMismatch,
  fileChangedWhileHashed,
  metadataParseFailed,
  openFailed,
  quarantineFailed,
  unexpectedFileType,
  verityFailed,
  type Finding,
} from './findings.js';
import { quarantineObject } from './quarantine.js';
import { scanStore } from './scan.js';

export interface CasRunInfo {
  readonly store: string;
  readonly layout: LayoutName;
  readonly hashAlg: string;
  readonly blockSize: number;
  readonly algorithmSource: AlgorithmSource;
}

export interface CasSummary extends CasRunInfo {
  /** Entries where an object belongs that were judged; `ok` of them hashed to their name. */
  readonly objects: { readonly checked: number; readonly ok: number };
  readonly bytesHashed: number;
  /** Findings in all, and per code. */
  readonly problems: number;
  readonly byCode: Readonly<Record<string, number>>;
  readonly quarantined: number;
  /** Stopped early (SIGINT): the counts cover only what was judged before. */
  readonly interrupted: boolean;
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
  readonly onStart?: (info: CasRunInfo) => void | Promise<void>;
  /** Each finding, once (quarantine already attempted). Awaited: a slow sink slows the check. */
  readonly onFinding: (f: Finding) => void | Promise<void>;
  /** After each judged object: running totals. */
  readonly onProgress?: (objectsChecked: number, bytesHashed: number) => void;
}

/** Throws a VeritreeError when the check cannot run at all (store missing, unknown layout, …). */
export async function verifyCas(dir: string, opts: VerifyCasOptions): Promise<CasSummary> {
  const started = performance.now();
  // One spelling of the root: finding paths are the object paths minus this prefix.
  const root = path.normalize(dir).replace(/(.)\/+$/, '$1');
  const rootPrefix = root.endsWith('/') ? root : `${root}/`;
  const layout = await detectLayout(root, opts.layout);
  const objectsDir = path.resolve(root, layout.objectsRel);
  if (opts.quarantineDir !== undefined && isInside(path.resolve(opts.quarantineDir), objectsDir))
    throw usageError(`--quarantine ${opts.quarantineDir}: must not be inside the store's objects (${objectsDir})`);

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

  async function* objectPaths(): AsyncGenerator<string> {
    const sink = {
      finding: async (f: Finding, objectSlot: boolean) => {
        await report(f);
        if (objectSlot) judged();
      },
    };
    yield* scanStore(layout, sink, opts.signal);
  }

  const results = digestFiles(objectPaths(), {
    pool: opts.pool ?? sharedPool(opts.threads),
    hashAlg: layout.hashAlg,
    blockSize: layout.blockSize,
    ...(opts.backend !== undefined ? { backend: opts.backend } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  for await (const r of results) {
    const rel = r.path.slice(rootPrefix.length);
    if (!r.ok) {
      // A large file cut short by the interrupt was not judged: leave it out of the counts.
      if (r.error.code === 'interrupted') continue;
      await report(findingForError(rel, r.error));
      judged();
      continue;
    }
    bytes += r.size;
    const expected = expectedHex(rel);
    if (r.hex === expected) {
      ok++;
      judged();
      continue;
    }
    const f = digestMismatch(rel, r.hashAlg, expected, r.hex);
    let notMoved: Finding | undefined;
    if (opts.quarantineDir !== undefined) {
      const q = await quarantineObject(root, rel, opts.quarantineDir);
      if (q.ok) {
        f.quarantinedTo = q.to;
        quarantined++;
      } else notMoved = quarantineFailed(rel, q.why, q.errno);
    }
    await report(f);
    if (notMoved) await report(notMoved);
    judged();
  }

  return {
    ...info,
    objects: { checked, ok },
    bytesHashed: bytes,
    problems,
    byCode,
    quarantined,
    interrupted: opts.signal?.aborted === true,
    elapsedMs: Math.round(performance.now() - started),
  };
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
