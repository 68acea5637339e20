/**
 * The single-stream native ceiling the backends are judged against: OpenSSL's SHA through
 * node:crypto on one thread, one `crypto.hash` per 4 KiB block in a tight loop (no tree, no
 * I/O), and — where the `openssl` binary is installed — `openssl speed -evp ALG -bytes 4096`,
 * OpenSSL's own figure without any JavaScript in the loop.
 */
import crypto from 'node:crypto';
import { execFile } from 'node:child_process';
import type { HashAlg } from '../params.js';

/** The ways to get a digest out of `crypto.hash`; they differ only in the output conversion. */
const OUTPUT_FORMS = ['buffer', 'binary', 'base64'] as const;

/**
 * MB/s (10⁶ B/s) of node:crypto hashing 4 KiB blocks one `crypto.hash` call at a time: six slices
 * of `ms / 6`, cycling through the output forms, and the best slice counts (this is a ceiling, so
 * the cheapest form and the least disturbed slice are the ones that say what OpenSSL can do).
 */
export function nodeCryptoSingleStream(hashAlg: HashAlg, ms: number): { mbps: number; form: string } {
  const block = new Uint8Array(4096);
  for (let i = 0; i < block.length; i++) block[i] = (i * 2654435761) >>> 24;
  const slice = (form: (typeof OUTPUT_FORMS)[number], limitMs: number) => {
    const limit = BigInt(Math.round(limitMs * 1e6));
    const t0 = process.hrtime.bigint();
    let blocks = 0;
    let elapsed = 0n;
    do {
      for (let i = 0; i < 64; i++) crypto.hash(hashAlg, block, form);
      blocks += 64;
      elapsed = process.hrtime.bigint() - t0;
    } while (elapsed < limit);
    return (blocks * 4096 * 1e3) / Number(elapsed);
  };
  for (const form of OUTPUT_FORMS) slice(form, Math.min(30, ms / 12)); // warm-up
  let best = { mbps: 0, form: '' };
  for (let i = 0; i < 6; i++) {
    const form = OUTPUT_FORMS[i % OUTPUT_FORMS.length]!;
    const mbps = slice(form, ms / 6);
    if (mbps > best.mbps) best = { mbps, form };
  }
  return best;
}

export interface OpensslSpeed {
  readonly mbps: number;
  readonly version: string;
  readonly command: string;
}

function execText(cmd: string, args: string[], timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout) => resolve(err ? undefined : stdout));
  });
}

/**
 * Runs `openssl speed -seconds S -evp ALG -bytes 4096` and parses its "ALG  <n>k" line (n in
 * 1000s of bytes per second). Undefined when openssl is missing or its output is not understood.
 */
export async function opensslSpeed(hashAlg: HashAlg, seconds: number): Promise<OpensslSpeed | undefined> {
  const args = ['speed', '-seconds', String(seconds), '-evp', hashAlg, '-bytes', '4096'];
  const out = await execText('openssl', args, (seconds + 20) * 1000);
  if (out === undefined) return undefined;
  const line = out.split('\n').find((l) => new RegExp(`^${hashAlg}\\s+[0-9.]+k\\s*$`).test(l.trim()));
  if (!line) return undefined;
  const kbps = Number(line.trim().split(/\s+/)[1]!.replace(/k$/, ''));
  if (!Number.isFinite(kbps) || kbps <= 0) return undefined;
  const version = ((await execText('openssl', ['version'], 5000)) ?? '').trim().split(/\s+/).slice(0, 2).join(' ');
  return { mbps: kbps / 1000, version, command: `openssl ${args.join(' ')}` };
}
