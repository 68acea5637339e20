/**
 * A deliberately plain fs-verity reference, written straight from docs/FORMATS.md §1.2–1.3 and sharing
 * no code with src/: whole levels in memory, node:crypto createHash, no batching, no streaming.
 * Property tests compare every backend against it.
 */
import { createHash } from 'node:crypto';

export function referenceDigest(data: Uint8Array, alg: 'sha256' | 'sha512', blockSize: number, salt: Uint8Array): { digest: Buffer; tree: Buffer; rootHash: Buffer } {
  const digestSize = alg === 'sha256' ? 32 : 64;
  const hashBlock = alg === 'sha256' ? 64 : 128;
  const padded = Buffer.alloc(salt.length === 0 ? 0 : Math.ceil(salt.length / hashBlock) * hashBlock);
  Buffer.from(salt).copy(padded);
  const hashOne = (block: Buffer) => createHash(alg).update(padded).update(block).digest();
  const blocksOf = (buf: Buffer): Buffer[] => {
    const out: Buffer[] = [];
    for (let off = 0; off < buf.length; off += blockSize) {
      const b = Buffer.alloc(blockSize);
      buf.copy(b, 0, off, Math.min(off + blockSize, buf.length));
      out.push(b);
    }
    return out;
  };
  let rootHash = Buffer.alloc(digestSize);
  const levels: Buffer[][] = [];
  if (data.length > 0) {
    let hashes = blocksOf(Buffer.from(data)).map(hashOne);
    while (hashes.length > 1) {
      const blocks = blocksOf(Buffer.concat(hashes));
      levels.push(blocks);
      hashes = blocks.map(hashOne);
    }
    rootHash = hashes[0]!;
  }
  const desc = Buffer.alloc(256);
  desc[0] = 1;
  desc[1] = alg === 'sha256' ? 1 : 2;
  desc[2] = Math.log2(blockSize);
  desc[3] = salt.length;
  desc.writeBigUInt64LE(BigInt(data.length), 8);
  rootHash.copy(desc, 16);
  Buffer.from(salt).copy(desc, 80);
  const tree = Buffer.concat(levels.reverse().flat());
  return { digest: createHash(alg).update(desc).digest(), tree, rootHash };
}

/** fsverity-utils test data: byte i = (i % 11) + (i % 439) + (i % 1103), truncated to 8 bits. */
export function fsverityTestData(size: number): Uint8Array {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (i % 11) + (i % 439) + (i % 1103);
  return data;
}
