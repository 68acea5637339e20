/**
 * errno → error code and meaning for each kernel operation (docs/FORMATS.md §2.3, §2.4, §2.7).
 */
import { describe, expect, it } from 'vitest';
import { errnoName, kernelErrnoError, LINUX_EXTRA_ERRNO, meaningOf } from '../src/report/errno.js';
import { VeritreeError } from '../src/report/errors.js';

describe('errno names', () => {
  it('names the errnos the fs-verity ioctls use, including those libuv lacks', () => {
    expect(errnoName(17)).toBe('EEXIST');
    expect(errnoName(26)).toBe('ETXTBSY');
    expect(errnoName(61)).toBe('ENODATA');
    expect(errnoName(95)).toBe('EOPNOTSUPP');
    expect(errnoName(126)).toBe('ENOKEY');
    expect(errnoName(129)).toBe('EKEYREJECTED');
    expect(errnoName(65)).toBe('ENOPKG');
    expect(errnoName(4000)).toBe('E4000');
    expect(() => errnoName(0)).toThrow(RangeError);
    expect(LINUX_EXTRA_ERRNO.ENOKEY).toBe(126);
  });
});

describe('FS_IOC_ENABLE_VERITY errors', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['EEXIST', 'verity-already-enabled', /already enabled/],
    ['ENOTTY', 'verity-not-supported', /does not implement fs-verity \(ENOTTY\).*tune2fs -O verity.*mkfs\.f2fs -O verity/],
    ['EOPNOTSUPP', 'verity-not-supported', /not available here \(EOPNOTSUPP\).*CONFIG_FS_VERITY.*mkfs\.ext4 -O verity/],
    ['ETXTBSY', 'file-open-for-writing', /open for writing/],
    ['EMSGSIZE', 'salt-or-signature-too-large', /salt longer than 32 bytes or signature longer than 16128/],
    ['EINVAL', 'invalid-verity-params', /block size/],
    ['EFBIG', 'file-too-large', /too large/],
    ['ENOPKG', 'hash-alg-not-in-kernel', /hash algorithm/],
    ['EROFS', 'read-only-filesystem', /read-only/],
    ['EPERM', 'permission-denied', /append-only.*require_signatures/],
    ['EKEYREJECTED', 'signature-rejected', /signature/],
    ['EACCES', 'permission-denied', /write permission/],
    ['EISDIR', 'is-a-directory', /directory/],
    ['EBADMSG', 'bad-signature', /malformed/],
    ['ENOKEY', 'signature-key-unknown', /\.fs-verity keyring/],
    ['EBUSY', 'verity-busy', /already being enabled/],
  ];
  for (const [errno, code, reason] of cases) {
    it(`${errno} → ${code}`, () => {
      const m = meaningOf('enable', errno);
      expect(m.code).toBe(code);
      expect(m.errno).toBe(errno);
      expect(m.reason).toMatch(reason);
      expect(m.reason).toContain(`(${errno})`);
    });
  }
  it('takes numbers too', () => {
    expect(meaningOf('enable', 17).code).toBe('verity-already-enabled');
    expect(meaningOf('enable', 95).code).toBe('verity-not-supported');
    expect(meaningOf('enable', 126).code).toBe('signature-key-unknown');
  });
});

describe('FS_IOC_MEASURE_VERITY / READ_VERITY_METADATA errors', () => {
  it('ENODATA on measure → not-verity', () => {
    const m = meaningOf('measure', 'ENODATA');
    expect(m.code).toBe('not-verity');
    expect(m.reason).toMatch(/^not a verity file/);
  });
  it('ENOTTY / EOPNOTSUPP → verity-not-supported for every verity ioctl', () => {
    for (const op of ['enable', 'measure', 'read-metadata'] as const) {
      expect(meaningOf(op, 'ENOTTY').code).toBe('verity-not-supported');
      expect(meaningOf(op, 'EOPNOTSUPP').code).toBe('verity-not-supported');
      expect(meaningOf(op, 'ENOTSUP').errno).toBe('EOPNOTSUPP');
    }
  });
  it('ENODATA on read-metadata → not-verity', () => {
    expect(meaningOf('read-metadata', 'ENODATA').code).toBe('not-verity');
  });
});

describe('path-level and unknown errors', () => {
  it('maps open failures', () => {
    expect(meaningOf('open', 'ENOENT').code).toBe('not-found');
    expect(meaningOf('open', 'EACCES').code).toBe('permission-denied');
    expect(meaningOf('open', 'EPERM').reason).toMatch(/verity file cannot be opened for writing/);
  });
  it('falls back to io-error with the system message', () => {
    const m = meaningOf('measure', 'ENOMEM');
    expect(m.code).toBe('io-error');
    expect(m.reason).toMatch(/measure failed: .* \(ENOMEM\)/);
  });
  it('makes VeritreeErrors with code, path and errno', () => {
    const e = kernelErrnoError('enable', 26, '/x/y');
    expect(e).toBeInstanceOf(VeritreeError);
    expect(e.toJSON()).toMatchObject({ code: 'file-open-for-writing', path: '/x/y', errno: 'ETXTBSY' });
    expect(e.describe()).toMatch(/^\/x\/y: file is open for writing \(ETXTBSY\)/);
  });
  it('xattr errors', () => {
    expect(meaningOf('getxattr', 'ENODATA').code).toBe('no-such-xattr');
    expect(meaningOf('setxattr', 'EOPNOTSUPP').code).toBe('xattrs-not-supported');
    expect(meaningOf('setxattr', 'E2BIG').code).toBe('xattr-too-large');
  });
});
