/**
 * `auto`: calibrated once per process and algorithm, except when the caller knows there is too
 * little to hash for measuring to pay off (a file on its own module graph: no other test's
 * calibration is cached here).
 */
import { describe, expect, it } from 'vitest';
import { availableBackends, cachedCalibration, calibrate, CALIBRATE_ABOVE_BYTES, resolveBackend } from '../src/backends/index.js';
import { resolveParams } from '../src/params.js';

describe('auto backend choice', () => {
  it('skips calibrating below CALIBRATE_ABOVE_BYTES (OpenSSL first), measures at or above it', () => {
    const params = resolveParams({ hashAlg: 'sha256' });
    const fallback = (['node-crypto', 'wasm-simd', 'wasm-scalar'] as const).find((b) => availableBackends().includes(b)) ?? 'noble';
    expect(cachedCalibration(params.alg)).toBeUndefined();
    expect(resolveBackend('auto', params, {}, 4096)).toBe(fallback);
    expect(resolveBackend('auto', params, {}, CALIBRATE_ABOVE_BYTES - 1)).toBe(fallback);
    expect(cachedCalibration(params.alg)).toBeUndefined(); // nothing was measured
    const measured = resolveBackend('auto', params, {}, CALIBRATE_ABOVE_BYTES);
    expect(cachedCalibration(params.alg)?.chosen).toBe(measured);
    expect(measured).toBe(calibrate(params.alg).chosen);
    // Once measured, small inputs reuse the measurement.
    expect(resolveBackend('auto', params, {}, 1)).toBe(measured);
  });

  it('an unknown size calibrates; an explicit choice or the environment always wins', () => {
    const params = resolveParams({ hashAlg: 'sha512', salt: 'ab' });
    expect(cachedCalibration(params.alg, true)).toBeUndefined();
    expect(resolveBackend('noble', params, {}, 1)).toBe('noble');
    expect(resolveBackend(undefined, params, { VERITREE_BACKEND: 'noble' }, 1)).toBe('noble');
    expect(cachedCalibration(params.alg, true)).toBeUndefined();
    const chosen = resolveBackend('auto', params, {});
    expect(cachedCalibration(params.alg, true)?.chosen).toBe(chosen);
  });
});
