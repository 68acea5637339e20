/**
 * Shared option parsing for verbs: `node:util` parseArgs with errors turned into usage errors, and
 * the fs-verity tree options (`--hash-alg --block-size --salt`) every verb spells the same way.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { usageError } from '../report/errors.js';
import { resolveParams, type VerityParams } from '../params.js';

export type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

export const TREE_OPTIONS = {
  'hash-alg': { type: 'string' },
  'block-size': { type: 'string' },
  salt: { type: 'string' },
} as const satisfies OptionsConfig;

type VerbConfig<O extends OptionsConfig> = { args: string[]; options: O; allowPositionals: true; strict: true };
export type ParsedVerbArgs<O extends OptionsConfig> = ReturnType<typeof parseArgs<VerbConfig<O>>>;

export function parseVerbArgs<O extends OptionsConfig>(args: string[], options: O): ParsedVerbArgs<O> {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw usageError((err as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
}

export function parseIntOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[0-9]+$/.test(value)) throw usageError(`--${name}: ${JSON.stringify(value)} is not a non-negative integer`);
  return Number(value);
}

/** `--hash-alg --block-size --salt` → validated parameters (throws with the bad value named). */
export function treeParams(values: { 'hash-alg'?: string | undefined; 'block-size'?: string | undefined; salt?: string | undefined }): VerityParams {
  const blockSize = parseIntOption('block-size', values['block-size']);
  return resolveParams({
    ...(values['hash-alg'] !== undefined ? { hashAlg: values['hash-alg'] } : {}),
    ...(blockSize !== undefined ? { blockSize } : {}),
    ...(values.salt !== undefined ? { salt: values.salt } : {}),
  });
}
