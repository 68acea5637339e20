/**
 * LineChunks (report/output.ts): the chunk the digest verb gathers its lines in. Text is encoded
 * straight into it, bytes copied; what comes out must be exactly the lines, in order, whatever
 * their encoding and however far past the chunk size they go.
 */
import { describe, expect, it } from 'vitest';
import { LineChunks } from '../src/report/output.js';

describe('LineChunks', () => {
  it('gives back text (any UTF-8 length) and bytes in order, growing past the chunk size', () => {
    const chunks = new LineChunks(16);
    const lines: (string | Uint8Array)[] = ['sha256:ab x\n', 'é ü 日本 😀\n', Buffer.from([0xff, 0xfe, 0x0a]), 'y'.repeat(100) + '\n', ''];
    for (const l of lines) chunks.add(l);
    const want = Buffer.concat(lines.map((l) => (typeof l === 'string' ? Buffer.from(l) : l)));
    expect(chunks.bytes).toBe(want.length);
    expect(Buffer.compare(chunks.take(), want)).toBe(0);
  });

  it('starts empty after take(), and the chunk taken is not reused', () => {
    const chunks = new LineChunks(8);
    chunks.add('first\n');
    const first = chunks.take();
    expect(chunks.bytes).toBe(0);
    chunks.add('second\n');
    expect(first.toString()).toBe('first\n');
    expect(chunks.take().toString()).toBe('second\n');
  });
});
