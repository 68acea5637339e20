/**
 * Whether a shared pool is open, without loading the pool: the verb runner closes it when a verb
 * ends, and a verb that never hashed on the pool (one small file) must not pay for loading it.
 */
let closeOpenPool: (() => Promise<void>) | undefined;

/** Called by pool.ts when the shared pool is created (and with undefined when it is closed). */
export function registerSharedPool(close: (() => Promise<void>) | undefined): void {
  closeOpenPool = close;
}

export async function closeSharedPoolIfOpen(): Promise<void> {
  await closeOpenPool?.();
}
