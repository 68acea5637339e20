/** What the real-kernel suites share about a guest run (test/kernel/vm.mjs `runInGuest`). */
// @ts-expect-error plain JS harness, shared with bench/ and CI scripts
import * as vm from '../kernel/vm.mjs';

/** runInGuest's result; `outcome`/`crash` from vm.classifyConsole. */
export interface GuestRun {
  rc: number | null;
  timedOut: boolean;
  stoppedOnCrash: boolean;
  attempts?: number;
  lockWaitSeconds?: number;
  outcome: 'clean' | 'crash' | 'boot-crash' | 'timeout' | 'no-status';
  crash?: string;
  seconds: number;
  output: string;
}

/** Why the guest gave no (complete) answer: a kernel crash with its first lines, a timeout, … */
export function guestTrouble(guest: GuestRun | undefined): string {
  if (!guest) return 'the guest did not run';
  if (guest.outcome !== 'clean') return vm.describeOutcome(guest) as string;
  return `guest exited ${guest.rc} without finishing; last console lines:\n${guest.output.slice(-4000)}`;
}
