/**
 * Byte layouts of the fs-verity ioctl arguments (docs/FORMATS.md §2.1, §2.2), checked without a kernel.
 */
import { describe, expect, it } from 'vitest';
import {
  DIGEST_HEADER_SIZE,
  ENABLE_ARG_SIZE,
  FS_IOC_ENABLE_VERITY,
  FS_IOC_GETFLAGS,
  FS_IOC_MEASURE_VERITY,
  FS_IOC_READ_VERITY_METADATA,
  IOC_READ,
  IOC_WRITE,
  ioc,
  READ_METADATA_ARG_SIZE,
} from '../src/kernel/constants.js';
import {
  ENABLE_ARG,
  packDigestBuffer,
  packEnableArg,
  packReadMetadataArg,
  parseStoredDescriptor,
  unpackDigest,
} from '../src/kernel/structs.js';
import { describeMismatch } from '../src/kernel/bulk.js';
import { resolveParams } from '../src/params.js';

const fakeAddress = () => 0x7f00_1234_5000n;
const u32 = (b: Uint8Array, off: number) => new DataView(b.buffer, b.byteOffset).getUint32(off, true);
const u64 = (b: Uint8Array, off: number) => new DataView(b.buffer, b.byteOffset).getBigUint64(off, true);

describe('ioctl request numbers', () => {
  it('match _IOW/_IOWR/_IOR with the struct sizes', () => {
    expect(ioc(IOC_WRITE, 'f', 133, ENABLE_ARG_SIZE)).toBe(FS_IOC_ENABLE_VERITY);
    expect(ioc(IOC_READ | IOC_WRITE, 'f', 134, DIGEST_HEADER_SIZE)).toBe(FS_IOC_MEASURE_VERITY);
    expect(ioc(IOC_READ | IOC_WRITE, 'f', 135, READ_METADATA_ARG_SIZE)).toBe(FS_IOC_READ_VERITY_METADATA);
    expect(ioc(IOC_READ, 'f', 1, 8)).toBe(FS_IOC_GETFLAGS);
    expect(FS_IOC_ENABLE_VERITY).toBe(0x40806685);
    expect(FS_IOC_MEASURE_VERITY).toBe(0xc0046686);
    expect(FS_IOC_READ_VERITY_METADATA).toBe(0xc0286687);
  });
  it('rejects sizes that do not fit 14 bits', () => {
    expect(() => ioc(IOC_READ, 'f', 1, 1 << 14)).toThrow(RangeError);
  });
});

describe('struct fsverity_enable_arg', () => {
  it('is 128 bytes with zero pointers and reserved fields when there is no salt or signature', () => {
    const b = packEnableArg({ hashAlgorithm: 1, blockSize: 4096, salt: new Uint8Array(0) }, () => {
      throw new Error('no address needed');
    });
    expect(b.length).toBe(128);
    expect(u32(b, ENABLE_ARG.version)).toBe(1);
    expect(u32(b, ENABLE_ARG.hashAlgorithm)).toBe(1);
    expect(u32(b, ENABLE_ARG.blockSize)).toBe(4096);
    expect(u32(b, ENABLE_ARG.saltSize)).toBe(0);
    expect(u64(b, ENABLE_ARG.saltPtr)).toBe(0n);
    expect(u32(b, ENABLE_ARG.sigSize)).toBe(0);
    expect(u32(b, 28)).toBe(0); // __reserved1
    expect(u64(b, ENABLE_ARG.sigPtr)).toBe(0n);
    expect(b.subarray(40, 128).every((x) => x === 0)).toBe(true); // __reserved2[11]
  });

  it('carries salt and signature after the struct, pointed to by salt_ptr / sig_ptr', () => {
    const salt = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
    const sig = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff);
    const b = packEnableArg({ hashAlgorithm: 2, blockSize: 1024, salt, signature: sig }, fakeAddress);
    expect(b.length).toBe(128 + 32 + 300);
    expect(b.byteOffset).toBe(0); // its own ArrayBuffer: the address is stable
    expect(b.buffer.byteLength).toBe(b.length);
    expect(Array.from(b.subarray(0, 16))).toEqual([1, 0, 0, 0, 2, 0, 0, 0, 0, 4, 0, 0, 32, 0, 0, 0]);
    expect(u64(b, ENABLE_ARG.saltPtr)).toBe(0x7f00_1234_5000n + 128n);
    expect(u32(b, ENABLE_ARG.sigSize)).toBe(300);
    expect(u64(b, ENABLE_ARG.sigPtr)).toBe(0x7f00_1234_5000n + 160n);
    expect(b.subarray(128, 160)).toEqual(salt);
    expect(b.subarray(160)).toEqual(sig);
  });

  it('guards its inputs', () => {
    const salt = new Uint8Array(0);
    expect(() => packEnableArg({ hashAlgorithm: 0, blockSize: 4096, salt }, fakeAddress)).toThrow(RangeError);
    expect(() => packEnableArg({ hashAlgorithm: 1, blockSize: 0, salt }, fakeAddress)).toThrow(RangeError);
    expect(() => packEnableArg({ hashAlgorithm: 1, blockSize: 4096, salt: new Uint8Array(33) }, fakeAddress)).toThrow(/33 bytes/);
    expect(() => packEnableArg({ hashAlgorithm: 1, blockSize: 4096, salt, signature: new Uint8Array(16129) }, fakeAddress)).toThrow(/16129/);
    expect(() => packEnableArg({ hashAlgorithm: 1, blockSize: 4096, salt: 'ab' as unknown as Uint8Array }, fakeAddress)).toThrow(TypeError);
  });
});

describe('struct fsverity_digest', () => {
  it('offers 64 bytes of digest capacity and unpacks what the kernel writes', () => {
    const b = packDigestBuffer();
    expect(b.length).toBe(4 + 64);
    expect(u32(b, 0)).toBe(64 << 16); // digest_algorithm 0, digest_size 64
    const view = new DataView(b.buffer);
    view.setUint16(0, 1, true);
    view.setUint16(2, 32, true);
    b.fill(0xab, 4, 36);
    const d = unpackDigest(b);
    expect(d.hashAlgorithm).toBe(1);
    expect(d.digest).toEqual(new Uint8Array(32).fill(0xab));
  });
  it('refuses a digest size beyond the buffer', () => {
    const b = packDigestBuffer();
    new DataView(b.buffer).setUint16(2, 65, true);
    expect(() => unpackDigest(b)).toThrow(RangeError);
  });
});

describe('struct fsverity_read_metadata_arg', () => {
  it('is 40 bytes: type, offset, length, buf_ptr, reserved', () => {
    const b = packReadMetadataArg(2, 4096, 65536, 0xdead_beef_0000n);
    expect(b.length).toBe(40);
    expect(u64(b, 0)).toBe(2n);
    expect(u64(b, 8)).toBe(4096n);
    expect(u64(b, 16)).toBe(65536n);
    expect(u64(b, 24)).toBe(0xdead_beef_0000n);
    expect(u64(b, 32)).toBe(0n);
    expect(() => packReadMetadataArg(0, 0, 1, 1n)).toThrow(RangeError);
    expect(() => packReadMetadataArg(1, -1, 1, 1n)).toThrow(RangeError);
    expect(() => packReadMetadataArg(1, 0, 1, 1 as unknown as bigint)).toThrow(TypeError);
  });
});

describe('stored descriptor', () => {
  const desc = (alg: number, log: number, salt: number[]) => {
    const d = new Uint8Array(256);
    d[0] = 1;
    d[1] = alg;
    d[2] = log;
    d[3] = salt.length;
    new DataView(d.buffer).setBigUint64(8, 12345n, true);
    d.set(salt, 80);
    return d;
  };
  it('parses the fields', () => {
    const p = parseStoredDescriptor(desc(2, 10, [1, 2, 3]));
    expect(p).toMatchObject({ version: 1, hashAlgorithm: 2, logBlockSize: 10, blockSize: 1024, dataSize: 12345n, sigSize: 0 });
    expect(p.salt).toEqual(Uint8Array.from([1, 2, 3]));
  });
  it('reports how existing parameters differ from the requested ones', () => {
    expect(describeMismatch(desc(1, 12, []), resolveParams({}))).toBeUndefined();
    expect(describeMismatch(desc(1, 12, []), resolveParams({ hashAlg: 'sha512' }))).toBe(
      'already enabled with hash algorithm sha256 (requested sha512)',
    );
    expect(describeMismatch(desc(1, 10, [0xaa]), resolveParams({ salt: 'bb' }))).toBe(
      'already enabled with block size 1024 (requested 4096), salt aa (requested bb)',
    );
  });
});
