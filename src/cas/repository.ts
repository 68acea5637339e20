/**
 * `checkRepository(root)`: the part of a composefs-rs repository fsck that is not about objects —
 * the `images/` and `streams/` link trees, their `refs/`, and the content of every image — meant to
 * run beside `verifyCas` (src/cas/check.ts), which walks and hashes `objects/` and judges meta.json.
 * Nothing here hashes an object for its own sake or writes anything.
 *
 * ## What `cfsctl fsck` checks (composefs-rs)
 *
 * Upstream: github.com/containers/composefs-rs, crates/composefs/src/repository.rs at commit
 * 54d248f7a77d60d168a46dfacda8cad3e955af9d (`Repository::fsck` and its helpers `fsck_metadata`,
 * `fsck_objects`, `fsck_category`, `fsck_refs_dir`, `fsck_splitstream`, `fsck_image`; the
 * `FsckError` enum and `FsckResult` struct), with the layout in doc/repository.md. In summary:
 *
 * - Layout: `objects/XX/<rest>` (the fs-verity digest, split after one byte); `images/<hex digest>`
 *   and `streams/<content identifier>` (e.g. `oci-layer-sha256:…`) are symlinks `../objects/XX/<rest>`
 *   made by `symlink_impl` as relative paths; `images/refs/**` and `streams/refs/**` are named
 *   symlinks to a top-level entry of the same category (`refs/a/b` → `../../<entry>`). A top-level
 *   image name without `/` is a digest: `open_image` measures the image and refuses a mismatch.
 * - Phase 0, meta.json: re-read and parsed (`metadata-parse-failed`), algorithm compared with the
 *   one the repository was opened with (`metadata-algorithm-mismatch`).
 * - Phase 1, objects: every `objects/XX/*` is counted (`objectsChecked`) and measured, corrupt ones
 *   counted (`objectsCorrupted`): `object-invalid-name`, `object-open-failed`,
 *   `object-digest-mismatch`, `object-verity-failed`, `object-verity-missing`.
 * - Phases 2 and 3, `streams/` then `images/` (`fsck_category`): every top-level entry but `refs`
 *   is counted (`streamsChecked` / `imagesChecked`); one that is not a symlink is
 *   `entry-not-symlink`, one whose target does not resolve (stat following it: ENOENT) is
 *   `broken-symlink` (`brokenLinks`), another stat error `stat-failed`; each of these also counts
 *   the entry corrupted (`streamsCorrupted` / `imagesCorrupted`). A stream is then opened as a
 *   splitstream (`stream-open-failed`, `stream-read-failed`) and its object and named refs looked
 *   up (`missing-object-ref`, `missing-named-ref`, `missingObjects`; `object-check-failed` for
 *   other errors). An image is read whole (`image-open-failed`, `image-read-failed`), parsed with
 *   composefs restrictions (composefs header magic and version, EROFS magic, 4 KiB blocks, no
 *   unsupported features: `image-invalid`) and every object its metacopy xattrs name must exist
 *   (`image-missing-object`, `missingObjects`).
 * - `refs/` (`fsck_refs_dir`): recursed; a symlink whose chain does not resolve is
 *   `broken-symlink` (`brokenLinks`), anything neither a directory nor a symlink is
 *   `unexpected-file-type`. Refs are not counted.
 * - Result: `FsckResult { hasMetadata, objectsChecked, objectsCorrupted, streamsChecked,
 *   streamsCorrupted, imagesChecked, imagesCorrupted, brokenLinks, missingObjects, errors }`,
 *   errors serialised with their kebab-case name as `type`.
 *
 * ## What this module checks (mirrored, and where it is stricter)
 *
 * - `streams/` and `images/` as cfsctl does, with its finding names (`entry-not-symlink`,
 *   `broken-symlink`, `stat-failed`, `unexpected-file-type`, `image-open-failed`,
 *   `image-read-failed`, `image-invalid`, `image-missing-object`) and counters. Stricter: a link is
 *   never followed to judge it. Its target text is resolved here, component by component, from the
 *   link's own directory (held open) with `openat(O_DIRECTORY | O_NOFOLLOW)`: `..` above the
 *   repository root or an absolute target is `link-escapes-repository`; a target that resolves
 *   but to the wrong thing — a top-level entry not pointing at a regular file `objects/XX/<rest>`
 *   with a well-formed name for the repository's algorithm, a ref not pointing at a top-level entry
 *   of its own category, a path through a symlink — is `link-wrong-kind`; an image whose name is not
 *   the digest its link points at is `image-name-mismatch` (cfsctl would refuse to open it by name).
 * - `refs/` as cfsctl does, plus the same target rules; a ref to an entry that is itself broken is
 *   `broken-symlink` too (cfsctl's stat follows the whole chain). Counted (`refsChecked`,
 *   `refsCorrupted`), which cfsctl does not.
 * - Images: stronger than cfsctl's existence check. Each image is read through the descriptor of
 *   its `objects/XX` directory (never through the link) and checked exactly as `veritree
 *   check-image IMAGE --objects REPO/objects --verity=require` does (src/overlay: every metacopy
 *   file's redirect resolved in `objects/` without following symlinks, the object's fs-verity
 *   digest compared with the metacopy's); every error it finds is reported as `image-<code>` (its
 *   `missing-object` as cfsctl's `image-missing-object`) and makes the image corrupted. Warnings
 *   (legacy verity xattr, unknown metacopy flags) are only counted. Objects are measured by the
 *   kernel when the repository is secure (meta.json has fs-verity, as composefs-rs decides) and
 *   hashed in userspace otherwise, as composefs-rs's insecure mode does.
 * - A category or `refs` directory replaced by a symlink (or something else) is reported
 *   (`unexpected-symlink`, `unexpected-file-type`) and never entered.
 * - Not done here: objects and meta.json (verifyCas), and splitstream contents (headers, object
 *   and named refs: zstd-compressed, not read by veritree) — stream entries are checked as links.
 */
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { BackendChoice } from '../backends/index.js';
import { ErofsImage, MAX_IMAGE_BYTES } from '../erofs/index.js';
import { entryKind, openDirectory, openSubdirectory, readDirectory, type DirEntry, type DirHandle } from '../fs/dir.js';
import type { FileKind } from '../fs/kind.js';
import { closeFile, openRegularFile } from '../fs/open.js';
import { cPath, pathText } from '../fs/path.js';
import { statAt, type FileStat } from '../fs/stat.js';
import type { Finding as OverlayFinding } from '../overlay/finding.js';
import { erofsEntries } from '../overlay/lower.js';
import { closeDataLayers, type DataLayer } from '../overlay/resolve.js';
import { checkLowerLayer } from '../overlay/validate.js';
import type { TaskRunner } from '../pool/pool.js';
import { errnoName } from '../report/errno.js';
import { asVeritreeError, internalError, type OverlayFindingCode } from '../report/errors.js';
import { directoryOpenFailed, unexpectedFileType, unexpectedSymlink, type Finding, type FindingCode } from './findings.js';
import { checkObjectName, isFanoutName } from './layout.js';

// --- finding codes and factories ---------------------------------------------------------------

/** Every repository finding is a Finding of ./findings.ts (the codes are listed there). */
export type RepositoryFinding = Finding;

const withErrno = (errno: string | undefined) => (errno !== undefined ? { errno } : {});

/** A top-level `images/` or `streams/` entry that is not a symlink (cfsctl `EntryNotSymlink`). */
export function entryNotSymlink(path: string, kind: string): RepositoryFinding {
  return { code: 'entry-not-symlink', path, detail: `${kind} where a symbolic link into objects/ belongs` };
}

/** A link whose target does not exist (cfsctl `BrokenSymlink`). */
export function brokenSymlink(path: string, target: string, why: string): RepositoryFinding {
  return { code: 'broken-symlink', path, detail: `-> ${target}: ${why}` };
}

/** The link or its target could not be examined (cfsctl `StatFailed`). */
export function statFailed(path: string, why: string, errno?: string): RepositoryFinding {
  return { code: 'stat-failed', path, detail: why, ...withErrno(errno) };
}

/** A link whose target leaves the repository (absolute, or `..` above the root): not followed. */
export function linkEscapesRepository(path: string, target: string, why: string): RepositoryFinding {
  return { code: 'link-escapes-repository', path, detail: `-> ${target}: ${why} (not followed)` };
}

/** A link that resolves inside the repository, but not to what its place in the layout needs. */
export function linkWrongKind(path: string, target: string, why: string): RepositoryFinding {
  return { code: 'link-wrong-kind', path, detail: `-> ${target}: ${why}` };
}

/** `images/<name>` whose name is not the digest of the object it links to. */
export function imageNameMismatch(path: string, hashAlg: string, named: string, linked: string): RepositoryFinding {
  return { code: 'image-name-mismatch', path, hashAlg, expected: named, actual: linked, detail: `named ${named}, links to object ${linked}: opening it by name fails its digest check` };
}

export function imageOpenFailed(path: string, why: string, errno?: string): RepositoryFinding {
  return { code: 'image-open-failed', path, detail: why, ...withErrno(errno) };
}

export function imageReadFailed(path: string, why: string, errno?: string): RepositoryFinding {
  return { code: 'image-read-failed', path, detail: why, ...withErrno(errno) };
}

export function imageInvalid(path: string, why: string): RepositoryFinding {
  return { code: 'image-invalid', path, detail: why };
}

/** What a `check-image` error becomes in a repository check (warnings: undefined, not reported). */
const IMAGE_CODES: Readonly<Record<OverlayFindingCode, FindingCode | undefined>> = {
  'missing-object': 'image-missing-object',
  'object-digest-mismatch': 'image-object-digest-mismatch',
  'object-not-verity': 'image-object-not-verity',
  'object-not-regular': 'image-object-not-regular',
  'object-open-failed': 'image-object-open-failed',
  'metacopy-invalid': 'image-metacopy-invalid',
  'metacopy-no-digest': 'image-metacopy-no-digest',
  'redirect-invalid': 'image-redirect-invalid',
  'redirect-escapes-layer': 'image-redirect-escapes-layer',
  'lower-read-failed': 'image-lower-read-failed',
  'metacopy-unknown-flags': undefined,
  'legacy-verity-xattr': undefined,
};

/** `alg:hex` → its parts (the overlay checker's digest form). */
function splitDigest(d: string | undefined): { hashAlg?: string; hex?: string } {
  if (d === undefined) return {};
  const colon = d.indexOf(':');
  return colon < 0 ? { hex: d } : { hashAlg: d.slice(0, colon), hex: d.slice(colon + 1) };
}

/**
 * One error of the image check, about image `path`: the file inside the image and the object go
 * into the detail; digests, as elsewhere in verify-cas, as bare hex with `hashAlg`.
 */
export function imageFileFinding(path: string, f: OverlayFinding): RepositoryFinding | undefined {
  const code = IMAGE_CODES[f.code];
  if (code === undefined) return undefined;
  const exp = splitDigest(f.expected);
  const act = splitDigest(f.actual);
  const hashAlg = exp.hashAlg ?? act.hashAlg;
  return {
    code,
    path,
    detail: `${f.path}: ${f.detail}${f.object !== undefined ? ` (object ${f.object})` : ''}`,
    ...(hashAlg !== undefined ? { hashAlg } : {}),
    ...(exp.hex !== undefined ? { expected: exp.hex } : {}),
    ...(act.hex !== undefined ? { actual: act.hex } : {}),
  };
}

// --- options and summary -----------------------------------------------------------------------

export interface RepositoryCheckOptions {
  /** The repository's digest algorithm (detectLayout / meta.json): judges object names in targets. */
  readonly hashAlg: 'sha256' | 'sha512';
  /** Each finding, once, as soon as it is known. Awaited: a slow sink slows the check. */
  onFinding(f: RepositoryFinding): void | Promise<void>;
  /** The pool image objects are hashed on; default the shared pool (the caller closes it). */
  readonly pool?: TaskRunner;
  readonly threads?: number;
  readonly backend?: BackendChoice;
  /** Stop between entries; an image cut short is left out of the counts. */
  readonly signal?: AbortSignal;
  /**
   * How image objects are judged: `true` asks the kernel (FS_IOC_MEASURE_VERITY) and an object
   * without fs-verity on a verity-capable filesystem is an error, as a `verity=require` mount
   * finds it; `false` hashes every object in userspace. `auto` (default): `true` when meta.json
   * has fs-verity enabled — composefs-rs's secure mode — else `false` (its insecure mode).
   */
  readonly measure?: boolean | 'auto';
}

export interface RepositorySummary {
  readonly hashAlg: string;
  /** meta.json has fs-verity enabled (composefs-rs secure mode: objects must have it too). */
  readonly secure: boolean;
  /** Whether image objects were measured by the kernel (else hashed). */
  readonly measured: boolean;
  /** Top-level `streams/` entries (refs aside) judged, and those with a problem. */
  readonly streamsChecked: number;
  readonly streamsCorrupted: number;
  /** Top-level `images/` entries (refs aside) judged, and those with a problem (link or content). */
  readonly imagesChecked: number;
  readonly imagesCorrupted: number;
  /** Symlinks under `images/refs/` and `streams/refs/`, and those with a problem. */
  readonly refsChecked: number;
  readonly refsCorrupted: number;
  /** `broken-symlink` findings (entries and refs), as cfsctl counts them. */
  readonly brokenLinks: number;
  readonly escapingLinks: number;
  readonly wrongKindLinks: number;
  /** Distinct objects images need that are missing from objects/ (counted per image, as cfsctl). */
  readonly missingObjects: number;
  /** Files inside the images checked, and how many passed. */
  readonly imageFiles: { readonly checked: number; readonly ok: number };
  /** Image check warnings (not findings): legacy verity xattrs, unknown metacopy flags. */
  readonly imageWarnings: number;
  readonly problems: number;
  readonly byCode: Readonly<Record<string, number>>;
  readonly interrupted: boolean;
  readonly elapsedMs: number;
}

// --- link resolution ---------------------------------------------------------------------------

const SLASH = 0x2f;
const CATEGORIES = ['streams', 'images'] as const;
type Category = (typeof CATEGORIES)[number];
const REFS = 'refs';
const META_JSON = 'meta.json';
/** Refs nested deeper than this are not descended into (reported). */
const MAX_REFS_DEPTH = 128;
const ENOENT = 2;
const ENOTDIR = 20;

/** How a link's target text resolved, walked from the link's directory without following links. */
type Resolution =
  | { readonly kind: 'found'; readonly names: readonly string[]; readonly parent: DirHandle; readonly name: Buffer; readonly stat: FileStat }
  | { readonly kind: 'escapes' | 'missing' | 'wrong'; readonly why: string }
  | { readonly kind: 'failed'; readonly why: string; readonly errno?: string };

/** Where a link sits: the open directories from the repository root down to the link's parent. */
interface Place {
  readonly dirs: readonly DirHandle[];
  /** Names (latin1: one char per byte) of dirs[1..]: `names.length === dirs.length - 1`. */
  readonly names: readonly string[];
}

const latin1 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
const shownPath = (names: readonly string[]) => names.map((n) => pathText(Buffer.from(n, 'latin1'))).join('/');

function describe(kind: FileKind): string {
  return kind === 'file' ? 'regular file' : kind === 'unknown' ? 'entry of unknown type' : kind.replace('-', ' ');
}

function splitComponents(target: Buffer): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i <= target.length; i++) {
    if (i === target.length || target[i] === SLASH) {
      if (i > start) out.push(target.subarray(start, i).toString('latin1'));
      start = i + 1;
    }
  }
  return out;
}

/** The directories worth keeping open for the run: every link goes through them. */
const KEPT_DIRS = /^(?:objects|images|streams|objects\/[0-9a-f]{2})$/;

/**
 * Directories opened while resolving targets, by path below the root (latin1): `objects`,
 * `objects/XX`, `images`, `streams` are kept for the run, anything else is closed after use.
 */
class DirCache {
  readonly #dirs = new Map<string, DirHandle>();
  get(key: string): DirHandle | undefined {
    return this.#dirs.get(key);
  }
  keep(key: string, dir: DirHandle): boolean {
    if (!KEPT_DIRS.test(key) || this.#dirs.has(key)) return false;
    this.#dirs.set(key, dir);
    return true;
  }
  close(): void {
    for (const d of this.#dirs.values()) d.release();
    this.#dirs.clear();
  }
}

/**
 * Resolves `target` (a symlink's text) from `place`, the way the kernel would if no component
 * were a symlink: `.` stays, `..` goes up the directories actually walked, each directory is
 * opened with O_NOFOLLOW relative to the one before, the last name is lstat'ed. A symlink on the
 * way, `..` above the root or an absolute target stop the walk: nothing is followed.
 * A `found` result holds a reference on `parent` for the caller to release.
 */
function resolveTarget(place: Place, target: Buffer, cache: DirCache): Resolution {
  if (target.length === 0) return { kind: 'wrong', why: 'empty target' };
  if (target[0] === SLASH) return { kind: 'escapes', why: 'absolute target: it names a path outside the repository, wherever the repository is' };
  const comps = splitComponents(target).filter((c) => c !== '.');
  const dirs = [...place.dirs];
  const names = [...place.names];
  const opened: DirHandle[] = [];
  const trailingDir = target[target.length - 1] === SLASH;
  try {
    for (let i = 0; i < comps.length; i++) {
      const c = comps[i]!;
      if (c === '..') {
        if (dirs.length === 1) return { kind: 'escapes', why: '".." above the repository root leaves the repository' };
        dirs.pop();
        names.pop();
        continue;
      }
      const top = dirs[dirs.length - 1]!;
      const bytes = Buffer.from(c, 'latin1');
      const here = [...names, c];
      if (i < comps.length - 1) {
        const key = here.join('/');
        let dir = cache.get(key);
        if (dir === undefined) {
          const r = openChild(top, bytes, here);
          if ('kind' in r) return r;
          dir = r;
          if (!cache.keep(key, dir)) opened.push(dir);
        }
        dirs.push(dir);
        names.push(c);
        continue;
      }
      const st = statAt(top.fd, cPath(bytes));
      if (typeof st === 'number') return statProblem(-st, here);
      if (trailingDir) return { kind: 'wrong', why: `the target ends in "/": it names a directory, not an object` };
      return { kind: 'found', names: here, parent: top.retain(), name: bytes, stat: st };
    }
    return { kind: 'wrong', why: `the target names a directory (${names.length === 0 ? 'the repository root' : shownPath(names)})` };
  } finally {
    for (const d of opened) d.release();
  }
}

/** An intermediate component: a real directory, or why the walk stops there. */
function openChild(parent: DirHandle, name: Buffer, here: readonly string[]): DirHandle | Exclude<Resolution, { kind: 'found' }> {
  try {
    return openSubdirectory(parent, name);
  } catch (err) {
    const st = statAt(parent.fd, cPath(name));
    if (typeof st === 'number') return statProblem(-st, here);
    if (st.kind === 'symlink') return { kind: 'wrong', why: `it goes through the symbolic link ${shownPath(here)} (not followed)` };
    if (st.kind !== 'directory') return { kind: 'wrong', why: `${shownPath(here)} is a ${describe(st.kind)}, not a directory` };
    const e = asVeritreeError(err, shownPath(here));
    return { kind: 'failed', why: `cannot open ${shownPath(here)}: ${e.message}`, ...withErrno(e.errno) };
  }
}

function statProblem(errno: number, here: readonly string[]): Exclude<Resolution, { kind: 'found' }> {
  if (errno === ENOENT) return { kind: 'missing', why: `${shownPath(here)} does not exist` };
  if (errno === ENOTDIR) return { kind: 'wrong', why: `a component of ${shownPath(here)} is not a directory` };
  return { kind: 'failed', why: `cannot stat ${shownPath(here)}`, errno: errnoName(errno) };
}

/** Reads a symlink by name in its open directory (the /proc/self/fd path of that descriptor). */
function readLinkAt(dir: DirHandle, name: Buffer): Buffer {
  return fs.readlinkSync(Buffer.concat([Buffer.from(`/proc/self/fd/${dir.fd}/`), name]), { encoding: 'buffer' });
}

// --- the check ---------------------------------------------------------------------------------

/** What a top-level entry turned out to be, for the refs pointing at it. */
type EntryVerdict = 'ok' | 'broken' | 'bad';

/**
 * Checks `root`'s `streams/`, `images/` (contents included) and their `refs/`. Findings go to
 * `onFinding` as they are found; the summary counts them. Throws a VeritreeError only when the
 * root itself cannot be opened.
 *
 * Long on purpose: the walk of images/, streams/ and refs shares one set of counters and one finding sink; its parts are closures over them.
 */
export async function checkRepository(root: string, opts: RepositoryCheckOptions): Promise<RepositorySummary> {
  const started = performance.now();
  if (opts.hashAlg !== 'sha256' && opts.hashAlg !== 'sha512') throw new RangeError(`hashAlg must be sha256 or sha512, got ${String(opts.hashAlg)}`);
  const rootDir = openDirectory(root, { follow: true });
  const cache = new DirCache();
  let layer: DataLayer | undefined;

  const byCode: Record<string, number> = {};
  let problems = 0;
  const counts = {
    streamsChecked: 0, streamsCorrupted: 0, imagesChecked: 0, imagesCorrupted: 0, refsChecked: 0, refsCorrupted: 0,
    brokenLinks: 0, escapingLinks: 0, wrongKindLinks: 0, missingObjects: 0, imageWarnings: 0,
  };
  const imageFiles = { checked: 0, ok: 0 };
  const report = async (f: RepositoryFinding) => {
    problems++;
    byCode[f.code] = (byCode[f.code] ?? 0) + 1;
    if (f.code === 'broken-symlink') counts.brokenLinks++;
    else if (f.code === 'link-escapes-repository') counts.escapingLinks++;
    else if (f.code === 'link-wrong-kind') counts.wrongKindLinks++;
    await opts.onFinding(f);
  };
  const aborted = () => opts.signal?.aborted === true;

  const meta = statAt(rootDir.fd, cPath(META_JSON));
  const secure = typeof meta !== 'number' && meta.kind === 'file' && meta.verity;
  const measure = opts.measure === undefined || opts.measure === 'auto' ? secure : opts.measure;

  /** Reports why a link's target is not usable. */
  const linkProblem = async (rel: string, target: string, r: Exclude<Resolution, { kind: 'found' }>) => {
    if (r.kind === 'failed') await report(statFailed(rel, `-> ${target}: ${r.why}`, r.errno));
    else if (r.kind === 'escapes') await report(linkEscapesRepository(rel, target, r.why));
    else if (r.kind === 'missing') await report(brokenSymlink(rel, target, r.why));
    else await report(linkWrongKind(rel, target, r.why));
  };

  /** Reads a link; reports and returns undefined when it cannot be read. */
  const readLink = async (dir: DirHandle, name: Buffer, rel: string): Promise<Buffer | undefined> => {
    try {
      return readLinkAt(dir, name);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      await report(statFailed(rel, `cannot read the link: ${e.code === 'EINVAL' ? 'no longer a symbolic link' : e.message}`, e.code));
      return undefined;
    }
  };

  /** Opens a category or refs directory by name, reporting why not (absent: silently undefined). */
  const openLayoutDir = async (parent: DirHandle, name: string, rel: string, what: string, listed?: DirEntry): Promise<DirHandle | undefined> => {
    const bytes = Buffer.from(name, 'latin1');
    const st = statAt(parent.fd, cPath(bytes));
    if (typeof st === 'number') {
      if (-st !== ENOENT) await report(statFailed(rel, 'cannot stat', errnoName(-st)));
      return undefined;
    }
    if (st.kind === 'symlink') {
      await report(unexpectedSymlink(rel));
      return undefined;
    }
    if (st.kind !== 'directory') {
      await report(unexpectedFileType(rel, describe(st.kind), what));
      return undefined;
    }
    try {
      const dir = openSubdirectory(parent, bytes);
      if (dir.stat.ino === st.ino && (listed === undefined || listed.ino === st.ino)) return dir;
      dir.release();
      await report(directoryOpenFailed(rel, 'directory replaced while the repository was checked'));
    } catch (err) {
      const e = asVeritreeError(err, rel);
      if (e.errno === 'ELOOP' || e.errno === 'ENOTDIR') await report(unexpectedSymlink(rel));
      else await report(directoryOpenFailed(rel, e.message, e.errno));
    }
    return undefined;
  };

  /** Streams a directory's entries; a read error is reported and ends the listing. */
  async function* list(dir: DirHandle, rel: string): AsyncGenerator<{ entry: DirEntry; kind: FileKind }> {
    const it = readDirectory(dir);
    for (;;) {
      let next: IteratorResult<DirEntry>;
      try {
        next = it.next();
      } catch (err) {
        const e = asVeritreeError(err, rel);
        await report(directoryOpenFailed(rel, e.message, e.errno));
        return;
      }
      if (next.done) return;
      yield { entry: next.value, kind: entryKind(dir, next.value) };
    }
  }

  /**
   * A top-level `images/` or `streams/` symlink: it must reach a regular file `objects/XX/<rest>`
   * with a well-formed name. Returns the entry's verdict and, when it is ok, the object found
   * (its directory retained: the caller releases it); problems are reported here.
   */
  const checkObjectLink = async (place: Place, name: Buffer, rel: string): Promise<{ verdict: EntryVerdict; found?: Extract<Resolution, { kind: 'found' }> }> => {
    const dir = place.dirs[place.dirs.length - 1]!;
    const target = await readLink(dir, name, rel);
    if (target === undefined) return { verdict: 'bad' };
    const shown = pathText(target);
    const r = resolveTarget(place, target, cache);
    if (r.kind !== 'found') {
      await linkProblem(rel, shown, r);
      return { verdict: r.kind === 'missing' ? 'broken' : 'bad' };
    }
    const [top, fanout, rest, ...more] = r.names;
    const wellNamed = top === 'objects' && fanout !== undefined && rest !== undefined && more.length === 0 && isFanoutName(fanout) && checkObjectName(opts.hashAlg, fanout, rest).ok;
    if (!wellNamed) {
      r.parent.release();
      await report(linkWrongKind(rel, shown, `${shownPath(r.names)} is not an object: the target must be objects/XX/<${opts.hashAlg} hex digest>`));
      return { verdict: 'bad' };
    }
    if (r.stat.kind !== 'file') {
      r.parent.release();
      await report(linkWrongKind(rel, shown, `${shownPath(r.names)} is a ${describe(r.stat.kind)}${r.stat.kind === 'symlink' ? ' (not followed)' : ''}, not an object (regular file)`));
      return { verdict: 'bad' };
    }
    return { verdict: 'ok', found: r };
  };

  /** The data layer image redirects resolve in: this repository's objects/, as opened above. */
  const objectsLayer = (): DataLayer | undefined => {
    if (layer !== undefined) return layer;
    const objects = cache.get('objects');
    if (objects === undefined) return undefined;
    layer = { root: 'objects', dev: objects.stat.dev, dir: objects.retain(), dirs: new Map() };
    return layer;
  };

  /**
   * Reads and checks one image object (`check-image --verity=require` against objects/). Returns
   * whether it is corrupted, or 'interrupted' when the check was cut short (not judged).
   */
  const checkImage = async (rel: string, obj: Extract<Resolution, { kind: 'found' }>): Promise<boolean | 'interrupted'> => {
    const objectRel = shownPath(obj.names);
    let fd: number;
    let size: number;
    try {
      const f = openRegularFile({ dirfd: obj.parent.fd, name: obj.name, path: objectRel, ino: obj.stat.ino });
      fd = f.fd;
      size = f.stat.size;
    } catch (err) {
      const e = asVeritreeError(err, objectRel);
      await report(imageOpenFailed(rel, `${objectRel}: ${e.message}`, e.errno));
      return true;
    }
    let bytes: Buffer;
    try {
      if (size > MAX_IMAGE_BYTES) {
        await report(imageInvalid(rel, `${objectRel} is ${size} bytes, larger than any metadata image (${MAX_IMAGE_BYTES})`));
        return true;
      }
      bytes = Buffer.allocUnsafe(size);
      let at = 0;
      while (at < size) {
        const n = fs.readSync(fd, bytes, at, size - at, at);
        if (n === 0) break;
        at += n;
      }
      if (at !== size) {
        await report(imageReadFailed(rel, `${objectRel}: ${at} bytes read, ${size} expected (file shrank while read)`));
        return true;
      }
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      await report(imageReadFailed(rel, `${objectRel}: ${e.message}`, e.code));
      return true;
    } finally {
      closeFile(fd);
    }
    let image: ErofsImage;
    try {
      image = new ErofsImage(bytes, rel, { cacheEntries: false });
    } catch (err) {
      await report(imageInvalid(rel, asVeritreeError(err, rel).message));
      return true;
    }
    if (image.header === null) {
      await report(imageInvalid(rel, 'no composefs header (bad composefs magic): an EROFS image, not a composefs one'));
      return true;
    }
    const dataLayer = objectsLayer();
    if (dataLayer === undefined) {
      await report(imageReadFailed(rel, 'objects/ is not open: the image cannot be checked'));
      return true;
    }
    let result;
    try {
      result = await checkLowerLayer(erofsEntries(image), {
        dataLayers: [dataLayer],
        verity: 'require',
        xattrPrefix: 'auto',
        measure,
        ...(opts.pool !== undefined ? { pool: opts.pool } : {}),
        ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
        ...(opts.backend !== undefined ? { backend: opts.backend } : {}),
        ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
      });
    } catch (err) {
      const e = asVeritreeError(err, rel);
      if (e.code === 'interrupted' || aborted()) return 'interrupted';
      if (e.code === 'image-invalid' || e.code === 'image-unsupported' || e.code === 'not-composefs') await report(imageInvalid(rel, e.message));
      else await report(imageReadFailed(rel, e.message, e.errno));
      return true;
    }
    // Hashing cut short leaves digests unknown: not a verdict.
    if (aborted()) return 'interrupted';
    imageFiles.checked += result.summary.checked;
    imageFiles.ok += result.summary.ok;
    counts.imageWarnings += result.summary.warnings;
    const missing = new Set<string>();
    let corrupted = false;
    for (const f of result.findings) {
      const finding = imageFileFinding(rel, f);
      if (finding === undefined) continue;
      corrupted = true;
      if (finding.code === 'image-missing-object') missing.add(f.redirect ?? f.path);
      await report(finding);
    }
    counts.missingObjects += missing.size;
    return corrupted;
  };

  /** One top-level entry of `cat`; returns its verdict (undefined: interrupted, not judged). */
  const checkEntry = async (cat: Category, place: Place, entry: DirEntry, kind: FileKind): Promise<EntryVerdict | undefined> => {
    const rel = `${cat}/${pathText(entry.name)}`;
    if (kind !== 'symlink') {
      await report(entryNotSymlink(rel, describe(kind)));
      return 'bad';
    }
    const { verdict, found } = await checkObjectLink(place, entry.name, rel);
    if (found === undefined || cat === 'streams') {
      found?.parent.release();
      return verdict;
    }
    try {
      let bad = false;
      const digest = found.names[1]! + found.names[2]!;
      const name = latin1(entry.name);
      if (name !== digest) {
        bad = true;
        await report(imageNameMismatch(rel, opts.hashAlg, pathText(entry.name), digest));
      }
      const corrupted = await checkImage(rel, found);
      if (corrupted === 'interrupted') return undefined;
      return bad || corrupted ? 'bad' : 'ok';
    } finally {
      found.parent.release();
    }
  };

  /** A symlink under `cat/refs/`: it must reach a top-level entry of `cat` that is not broken. */
  const checkRef = async (cat: Category, place: Place, name: Buffer, rel: string, verdicts: ReadonlyMap<string, EntryVerdict>): Promise<boolean> => {
    const dir = place.dirs[place.dirs.length - 1]!;
    const target = await readLink(dir, name, rel);
    if (target === undefined) return false;
    const shown = pathText(target);
    const r = resolveTarget(place, target, cache);
    if (r.kind !== 'found') {
      await linkProblem(rel, shown, r);
      return false;
    }
    r.parent.release();
    const [top, entry, ...more] = r.names;
    if (top !== cat || entry === undefined || entry === REFS || more.length > 0) {
      await report(linkWrongKind(rel, shown, `${shownPath(r.names)} is not an entry of ${cat}/: a ref must point to ${cat}/<name>`));
      return false;
    }
    const verdict = verdicts.get(entry);
    if (verdict === 'broken') {
      await report(brokenSymlink(rel, shown, `${shownPath(r.names)} is itself a broken link`));
      return false;
    }
    return true;
  };

  const walkRefs = async (cat: Category, place: Place, rel: string, verdicts: ReadonlyMap<string, EntryVerdict>): Promise<void> => {
    const dir = place.dirs[place.dirs.length - 1]!;
    for await (const { entry, kind } of list(dir, rel)) {
      if (aborted()) return;
      const childRel = `${rel}/${pathText(entry.name)}`;
      if (kind === 'directory') {
        if (place.dirs.length - 3 >= MAX_REFS_DEPTH) {
          await report(directoryOpenFailed(childRel, `refs nested deeper than ${MAX_REFS_DEPTH} levels: not descended into`));
          continue;
        }
        const sub = await openLayoutDir(dir, latin1(entry.name), childRel, 'a directory of refs', entry);
        if (sub === undefined) continue;
        try {
          await walkRefs(cat, { dirs: [...place.dirs, sub], names: [...place.names, latin1(entry.name)] }, childRel, verdicts);
        } finally {
          sub.release();
        }
      } else if (kind === 'symlink') {
        const ok = await checkRef(cat, place, entry.name, childRel, verdicts);
        counts.refsChecked++;
        if (!ok) counts.refsCorrupted++;
      } else {
        await report(unexpectedFileType(childRel, describe(kind), 'a ref (symbolic link) or a directory of refs'));
      }
    }
  };

  const checkCategory = async (cat: Category): Promise<void> => {
    let dir = cache.get(cat);
    if (dir === undefined) {
      dir = await openLayoutDir(rootDir, cat, cat, `the ${cat} directory`);
      if (dir === undefined) return;
      if (!cache.keep(cat, dir)) throw internalError(`${cat}/ opened twice`);
    }
    const place: Place = { dirs: [rootDir, dir], names: [cat] };
    const verdicts = new Map<string, EntryVerdict>();
    let refs: DirEntry | undefined;
    for await (const { entry, kind } of list(dir, cat)) {
      if (aborted()) return;
      const key = latin1(entry.name);
      if (key === REFS) {
        refs = entry;
        continue;
      }
      const verdict = await checkEntry(cat, place, entry, kind);
      if (verdict === undefined) return;
      verdicts.set(key, verdict);
      if (cat === 'images') {
        counts.imagesChecked++;
        if (verdict !== 'ok') counts.imagesCorrupted++;
      } else {
        counts.streamsChecked++;
        if (verdict !== 'ok') counts.streamsCorrupted++;
      }
    }
    if (refs === undefined || aborted()) return;
    const refsDir = await openLayoutDir(dir, REFS, `${cat}/${REFS}`, 'the refs directory', refs);
    if (refsDir === undefined) return;
    try {
      await walkRefs(cat, { dirs: [rootDir, dir, refsDir], names: [cat, REFS] }, `${cat}/${REFS}`, verdicts);
    } finally {
      refsDir.release();
    }
  };

  try {
    // cfsctl's order: streams, then images.
    for (const cat of CATEGORIES) {
      if (aborted()) break;
      await checkCategory(cat);
    }
  } finally {
    if (layer !== undefined) closeDataLayers([layer]);
    cache.close();
    rootDir.release();
  }

  return {
    hashAlg: opts.hashAlg,
    secure,
    measured: measure,
    ...counts,
    imageFiles,
    problems,
    byCode,
    interrupted: aborted(),
    elapsedMs: Math.round(performance.now() - started),
  };
}
