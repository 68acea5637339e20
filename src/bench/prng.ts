/**
 * A small seeded pseudo-random generator for the benchmarks: the generated file trees (sizes and
 * contents) must be identical from run to run and machine to machine so figures are comparable.
 *
 * The state advances by a Weyl sequence (add the 32-bit golden-ratio constant) and every output is
 * that counter passed through a 32-bit avalanche mixer (xor-shift / multiply rounds). That is
 * plenty for picking file sizes and filling bytes; it is not for anything cryptographic.
 */

const GOLDEN_GAMMA = 0x9e3779b9;
/** Word-wise filling writes little-endian bytes; big-endian hosts take the byte path instead. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export class SeededRandom {
  #state: number;
  /** A spare standard-normal sample: Box–Muller produces them in pairs. */
  #spareNormal: number | undefined;

  constructor(seed: number) {
    this.#state = (seed ^ 0x5bd1e995) | 0;
  }

  /** Uniform unsigned 32-bit integer. */
  nextUint32(): number {
    this.#state = (this.#state + GOLDEN_GAMMA) | 0;
    let z = this.#state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  }

  /** Uniform in the open interval (0, 1). */
  uniform(): number {
    return (this.nextUint32() + 0.5) / 4294967296;
  }

  /** Uniform integer in [lo, hi]. */
  intBetween(lo: number, hi: number): number {
    return lo + Math.floor(this.uniform() * (hi - lo + 1));
  }

  /** Standard normal sample (Box–Muller transform). */
  normal(): number {
    const spare = this.#spareNormal;
    if (spare !== undefined) {
      this.#spareNormal = undefined;
      return spare;
    }
    const radius = Math.sqrt(-2 * Math.log(this.uniform()));
    const angle = 2 * Math.PI * this.uniform();
    this.#spareNormal = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  }

  /** Fills `out` with pseudo-random bytes, four at a time. */
  fill(out: Uint8Array): void {
    const words = Math.floor(out.byteLength / 4);
    const aligned = LITTLE_ENDIAN && out.byteOffset % 4 === 0;
    if (aligned) {
      const u32 = new Uint32Array(out.buffer, out.byteOffset, words);
      for (let i = 0; i < words; i++) u32[i] = this.nextUint32();
    } else {
      for (let i = 0; i < words; i++) {
        const w = this.nextUint32();
        out[4 * i] = w & 0xff;
        out[4 * i + 1] = (w >>> 8) & 0xff;
        out[4 * i + 2] = (w >>> 16) & 0xff;
        out[4 * i + 3] = w >>> 24;
      }
    }
    for (let i = words * 4; i < out.length; i++) out[i] = this.nextUint32() & 0xff;
  }
}
