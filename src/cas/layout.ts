/**
 * The on-disk layouts of the content-addressed object stores `verify-cas` checks, and how to tell
 * them apart:
 *
 * - composefs (`mkcomposefs --digest-store=DIR`): `DIR/XX/<62 hex>`, the object's fs-verity
 *   digest (sha256, 4 KiB blocks, no salt) in lowercase hex split 2/62.
 * - composefs-rs repository (`cfsctl`): `DIR/objects/XX/<rest>`, sha256 (62 hex rest) or sha512
 *   (126 hex rest) as `DIR/meta.json` says (`"algorithm": "fsverity-<hash>-<lg block size>"`);
 *   without meta.json the algorithm is inferred from the first object name that fits one.
 *   `streams/` and `images/` hold symlinks into objects/ and are not objects.
 *
 * Detection: an `objects/` directory or a `meta.json` → composefs-rs; else a two-lowercase-hex
 * subdirectory → composefs; `--layout` overrides; anything else is refused, not guessed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { HASH_ALGS, type HashAlg } from '../params.js';
import { unknownLayout, unsupportedRepository, notADirectory } from '../report/errors.js';
import { fromSystemError } from '../report/errno.js';

export const LAYOUT_NAMES = ['composefs', 'composefs-rs'] as const;
export type LayoutName = (typeof LAYOUT_NAMES)[number];

/** How the digest algorithm was decided. */
export type AlgorithmSource = 'layout' | 'meta.json' | 'object-names' | 'default';

export interface CasLayout {
  readonly name: LayoutName;
  /** The store directory as given. */
  readonly root: string;
  /** The directory holding the `XX` fan-out directories, relative to `root` ('' = root itself). */
  readonly objectsRel: string;
  readonly hashAlg: HashAlg;
  readonly blockSize: number;
  readonly algorithmSource: AlgorithmSource;
  /** Top-level names that belong to the layout but hold no objects (never descended into). */
  readonly reserved: ReadonlySet<string>;
  /** Why meta.json could not be used, when it exists but is unreadable or malformed. */
  readonly metadataProblem?: string;
}

/** composefs-rs `REPO_FORMAT_VERSION`: newer repositories may have a layout we do not know. */
const REPO_FORMAT_VERSION = 1;
const META_JSON = 'meta.json';
const META_MAX_BYTES = 1 << 20;
/** Object names examined at most when inferring the algorithm of a repository without meta.json. */
const INFER_MAX_NAMES = 10_000;

const FANOUT_RE = /^[0-9a-f]{2}$/;

export function isFanoutName(name: string): boolean {
  return FANOUT_RE.test(name);
}

/** Hex characters after the two-character fan-out prefix. */
export function restLength(alg: HashAlg): number {
  return HASH_ALGS[alg].digestSize * 2 - 2;
}

export type NameCheck = { readonly ok: true; readonly hex: string } | { readonly ok: false; readonly why: string };

/** Whether `name` inside fan-out directory `fanout` is a well-formed object name for `alg`. */
export function checkObjectName(alg: HashAlg, fanout: string, name: string): NameCheck {
  const want = restLength(alg);
  if (name.length !== want) return { ok: false, why: `name has ${name.length} characters, a ${alg} object name has ${want} after the directory prefix` };
  if (/[^0-9a-fA-F]/.test(name)) return { ok: false, why: 'name contains characters that are not hex digits' };
  if (/[A-F]/.test(name)) return { ok: false, why: 'name contains uppercase hex digits (object names are lowercase)' };
  return { ok: true, hex: fanout + name };
}

/** `fsverity-sha512-12` → sha512 with 4096-byte blocks (composefs-rs `Algorithm` string form). */
export function parseAlgorithm(s: unknown): { hashAlg: HashAlg; blockSize: number } | undefined {
  if (typeof s !== 'string') return undefined;
  const m = /^fsverity-(sha256|sha512)-(\d{1,2})$/.exec(s);
  if (!m) return undefined;
  const lg = Number(m[2]);
  // fs-verity accepts Merkle block sizes from 1 KiB to the page size (64 KiB at most).
  if (lg < 10 || lg > 16) return undefined;
  return { hashAlg: m[1] as HashAlg, blockSize: 1 << lg };
}

/**
 * Decides the layout of `root` (or checks the one forced by `override`) and the digest parameters.
 * Throws a VeritreeError when the check cannot run: missing, not a directory, unknown layout,
 * a composefs-rs repository of a newer format.
 */
export async function detectLayout(root: string, override?: LayoutName): Promise<CasLayout> {
  let st: fs.Stats;
  try {
    st = await fs.promises.lstat(root);
  } catch (err) {
    throw fromSystemError(err, root, 'stat');
  }
  if (!st.isDirectory()) throw notADirectory(root, st.isSymbolicLink() ? 'is a symbolic link, not a directory (not followed)' : 'not a directory');
  try {
    await (await fs.promises.opendir(root)).close();
  } catch (err) {
    throw fromSystemError(err, root, 'open');
  }

  const name = override ?? (await sniff(root));
  if (name === 'composefs') {
    return { name, root, objectsRel: '', hashAlg: 'sha256', blockSize: 4096, algorithmSource: 'layout', reserved: new Set() };
  }
  const reserved = new Set(['objects', 'streams', 'images', META_JSON]);
  const meta = await readMeta(root);
  if (meta.kind === 'ok') return { name, root, objectsRel: 'objects', reserved, ...meta.params, algorithmSource: 'meta.json' };
  const inferred = await inferAlgorithm(path.join(root, 'objects'));
  return {
    name,
    root,
    objectsRel: 'objects',
    reserved,
    hashAlg: inferred ?? 'sha512',
    blockSize: 4096,
    algorithmSource: inferred ? 'object-names' : 'default',
    ...(meta.kind === 'bad' ? { metadataProblem: meta.why } : {}),
  };
}

async function sniff(root: string): Promise<LayoutName> {
  const objects = await lstatOrUndefined(path.join(root, 'objects'));
  if (objects?.isDirectory()) return 'composefs-rs';
  const meta = await lstatOrUndefined(path.join(root, META_JSON));
  if (meta?.isFile()) return 'composefs-rs';
  let dir: fs.Dir;
  try {
    dir = await fs.promises.opendir(root, { bufferSize: 64 });
  } catch (err) {
    throw fromSystemError(err, root, 'open');
  }
  try {
    for await (const d of dir) {
      if (isFanoutName(d.name) && (d.isDirectory() || (!d.isSymbolicLink() && (await lstatOrUndefined(path.join(root, d.name)))?.isDirectory()))) return 'composefs';
    }
  } catch (err) {
    throw fromSystemError(err, root, 'read');
  }
  throw unknownLayout(
    root,
    'not a known object store: no objects/ directory or meta.json (composefs-rs repository) and no two-hex-digit fan-out directory (composefs digest store); use --layout composefs|composefs-rs to say which it is',
  );
}

type MetaResult = { kind: 'absent' } | { kind: 'bad'; why: string } | { kind: 'ok'; params: { hashAlg: HashAlg; blockSize: number } };

async function readMeta(root: string): Promise<MetaResult> {
  const p = path.join(root, META_JSON);
  const st = await lstatOrUndefined(p);
  if (!st) return { kind: 'absent' };
  if (!st.isFile()) return { kind: 'bad', why: 'meta.json is not a regular file' };
  if (st.size > META_MAX_BYTES) return { kind: 'bad', why: `meta.json is ${st.size} bytes, too large to be repository metadata` };
  let doc: unknown;
  try {
    doc = JSON.parse(await fs.promises.readFile(p, 'utf8'));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { kind: 'bad', why: e.code ? `cannot read meta.json: ${fromSystemError(err, p).message}` : `meta.json is not valid JSON: ${e.message}` };
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return { kind: 'bad', why: 'meta.json is not a JSON object' };
  const m = doc as { version?: unknown; algorithm?: unknown; features?: { incompatible?: unknown } };
  if (typeof m.version !== 'number' || !Number.isInteger(m.version)) return { kind: 'bad', why: 'meta.json has no integer "version"' };
  if (m.version > REPO_FORMAT_VERSION) throw unsupportedRepository(root, `repository format version ${m.version} is newer than this tool understands (${REPO_FORMAT_VERSION})`);
  const incompatible = m.features?.incompatible;
  if (Array.isArray(incompatible) && incompatible.length > 0)
    throw unsupportedRepository(root, `repository requires features this tool does not know: ${incompatible.map(String).join(', ')}`);
  const params = parseAlgorithm(m.algorithm);
  if (!params) return { kind: 'bad', why: `meta.json "algorithm" ${JSON.stringify(m.algorithm)} is not fsverity-sha256-N or fsverity-sha512-N (N = 10..16)` };
  return { kind: 'ok', params };
}

/** The algorithm whose name length the first plausible object name has; undefined if none seen. */
async function inferAlgorithm(objectsDir: string): Promise<HashAlg | undefined> {
  const lengths = new Map<number, HashAlg>([
    [restLength('sha256'), 'sha256'],
    [restLength('sha512'), 'sha512'],
  ]);
  let seen = 0;
  let top: fs.Dir;
  try {
    top = await fs.promises.opendir(objectsDir, { bufferSize: 64 });
  } catch {
    return undefined; // the scan reports an unreadable or missing objects/
  }
  try {
    for await (const d of top) {
      if (!d.isDirectory() || !isFanoutName(d.name)) continue;
      let sub: fs.Dir;
      try {
        sub = await fs.promises.opendir(path.join(objectsDir, d.name), { bufferSize: 64 });
      } catch {
        continue;
      }
      try {
        for await (const e of sub) {
          const alg = lengths.get(e.name.length);
          if (alg && /^[0-9a-f]+$/.test(e.name)) return alg;
          if (++seen >= INFER_MAX_NAMES) return undefined;
        }
      } finally {
        await sub.close().catch(() => {});
      }
    }
  } catch {
    return undefined;
  } finally {
    await top.close().catch(() => {});
  }
  return undefined;
}

async function lstatOrUndefined(p: string): Promise<fs.Stats | undefined> {
  try {
    return await fs.promises.lstat(p);
  } catch {
    return undefined;
  }
}

/**
 * Makes `root` a composefs-rs repository for objects of `hashAlg` (4 KiB blocks): `objects/`
 * and `meta.json` `{"version": 1, "algorithm": "fsverity-<hash>-12"}` as composefs-rs writes it.
 * An existing repository must already use that algorithm; without `hashAlg` its own is taken
 * (sha512, composefs-rs' default, for a new one). Returns the objects directory and algorithm.
 */
export async function initRepository(root: string, hashAlg?: HashAlg): Promise<{ objects: string; hashAlg: HashAlg }> {
  await fs.promises.mkdir(path.join(root, 'objects'), { recursive: true }).catch((err: unknown) => {
    throw fromSystemError(err, root, 'write');
  });
  const meta = await readMeta(root);
  if (meta.kind === 'bad') throw unsupportedRepository(root, meta.why);
  if (meta.kind === 'ok') {
    if (hashAlg !== undefined && meta.params.hashAlg !== hashAlg) {
      throw unsupportedRepository(root, `the repository holds ${meta.params.hashAlg} objects (meta.json); --hash-alg ${hashAlg} would mix algorithms`);
    }
    return { objects: path.join(root, 'objects'), hashAlg: meta.params.hashAlg };
  }
  const alg = hashAlg ?? 'sha512';
  const doc = `${JSON.stringify({ version: REPO_FORMAT_VERSION, algorithm: `fsverity-${alg}-12` })}\n`;
  // Exclusive create: a concurrent init that got there first wins, and is then read back.
  try {
    await fs.promises.writeFile(path.join(root, META_JSON), doc, { flag: 'wx', mode: 0o644 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return initRepository(root, hashAlg);
    throw fromSystemError(err, path.join(root, META_JSON), 'write');
  }
  return { objects: path.join(root, 'objects'), hashAlg: alg };
}
