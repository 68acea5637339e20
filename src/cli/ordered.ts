/**
 * Bounded-concurrency map that yields results in input order: the bulk verbs run many files at
 * once but print like their sequential counterparts (`fsverity measure A B` prints A then B).
 */

/** Maps `items` through `fn` with at most `concurrency` pending, yielding results in input order. */
export async function* orderedMap<I, O>(
  items: AsyncIterable<I> | Iterable<I>,
  concurrency: number,
  fn: (item: I) => Promise<O>,
): AsyncGenerator<O> {
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new RangeError(`concurrency must be a positive integer, got ${String(concurrency)}`);
  const window: Array<Promise<O>> = [];
  for await (const item of items) {
    const p = fn(item);
    // Rejections are observed when the item reaches the head; this keeps them from being unhandled meanwhile.
    p.catch(() => undefined);
    window.push(p);
    if (window.length >= concurrency) yield await window.shift()!;
  }
  while (window.length > 0) yield await window.shift()!;
}
