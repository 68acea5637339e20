/**
 * A closing summary after vitest's own report, so a reader of a CI log sees at once how many tests
 * ran, how many were skipped and why (the note given to `ctx.skip(note)`), and whether the
 * real-kernel suites really ran. The last line is the plain `N passed, N failed, N skipped` form.
 */
import type { Reporter, TestModule } from 'vitest/node';

/** Test files whose tests need the qemu guest: the summary says whether they ran. */
const KERNEL_SUITES = ['test/kernel-vm.test.ts', 'test/overlay-kernel.test.ts'];

export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const reasons = new Map<string, number>();
    const kernel = new Map<string, { passed: number; skipped: number; failed: number }>();
    for (const mod of modules) {
      const rel = mod.relativeModuleId;
      const k = KERNEL_SUITES.includes(rel) ? { passed: 0, skipped: 0, failed: 0 } : undefined;
      if (k) kernel.set(rel, k);
      for (const test of mod.children.allTests()) {
        const r = test.result();
        if (r.state === 'passed') {
          passed++;
          if (k) k.passed++;
        } else if (r.state === 'failed') {
          failed++;
          if (k) k.failed++;
        } else if (r.state === 'skipped') {
          skipped++;
          if (k) k.skipped++;
          const why = `${rel}: ${r.note ?? `'${test.fullName}' (no reason given)`}`;
          reasons.set(why, (reasons.get(why) ?? 0) + 1);
        }
      }
    }
    const out: string[] = ['', '== veritree test summary =='];
    for (const [file, k] of kernel) {
      const ran = k.passed + k.failed > 0 && k.skipped === 0 ? 'RAN' : k.passed + k.failed > 0 ? 'PARTLY RAN' : 'DID NOT RUN';
      out.push(`real-kernel suite ${file}: ${ran} (${k.passed} passed, ${k.failed} failed, ${k.skipped} skipped)`);
    }
    if (reasons.size > 0) {
      out.push('skipped, and why:');
      for (const [why, n] of reasons) out.push(`  ${n} × ${why}`);
    } else {
      out.push('skipped: none');
    }
    out.push(`${passed} passed, ${failed} failed, ${skipped} skipped`);
    process.stdout.write(`${out.join('\n')}\n`);
  }
}
