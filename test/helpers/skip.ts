/**
 * Skips every test of the enclosing describe block when `reason` is set, with the reason as the
 * runner's skip note (the summary reporter prints it): a missing tool or privilege is never a
 * silent pass.
 */
import { beforeEach } from 'vitest';

export function skipAllUnless(reason: string | undefined): void {
  if (reason !== undefined) beforeEach((ctx) => ctx.skip(reason));
}
