/**
 * `noble` backend: pure-JS SHA-2 from @noble/hashes. The slowest, but audited and dependency-free;
 * it is the portable reference the other backends are tested against.
 */
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import type { HashAlgInfo } from '../params.js';
import type { Hasher, HasherFactory } from './types.js';

type NobleHash = ReturnType<typeof sha256.create>;

class NobleHasher implements Hasher {
  readonly backend = 'noble' as const;
  readonly alg: HashAlgInfo;
  readonly paddedSalt: Uint8Array;
  /** State after absorbing the padded salt: cloned per block instead of re-hashing the salt. */
  readonly #salted: NobleHash;
  #input = new Uint8Array(0);

  constructor(alg: HashAlgInfo, paddedSalt: Uint8Array) {
    this.alg = alg;
    this.paddedSalt = paddedSalt;
    this.#salted = this.#fn().create().update(paddedSalt) as NobleHash;
  }

  #fn(): typeof sha256 {
    return (this.alg.name === 'sha256' ? sha256 : sha512) as typeof sha256;
  }

  hashBlocks(input: Uint8Array, blockSize: number, count: number, out: Uint8Array, outOffset: number): void {
    const d = this.alg.digestSize;
    for (let i = 0; i < count; i++) {
      const h = this.#salted.clone();
      h.update(input.subarray(i * blockSize, (i + 1) * blockSize));
      out.set(h.digest(), outOffset + i * d);
    }
  }

  inputBuffer(bytes: number): Uint8Array {
    if (this.#input.length < bytes) this.#input = new Uint8Array(bytes);
    return this.#input.subarray(0, bytes);
  }

  hash(data: Uint8Array): Uint8Array {
    return this.#fn()(data);
  }
}

export const nobleFactory: HasherFactory = {
  backend: 'noble',
  available: () => true,
  create: (alg, paddedSalt) => new NobleHasher(alg, paddedSalt),
};
