/** Everything about a tree that a read-only check must not change (atime aside): for every entry
 * its mode, size, mtime, inode, and the content hash (readable files) or link target. */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export function snapshot(root: string): string[] {
  const out: string[] = [];
  const visit = (rel: string) => {
    const abs = path.join(root, rel);
    const st = fs.lstatSync(abs, { bigint: true });
    let content = '';
    if (st.isFile() && (Number(st.mode) & 0o444) !== 0) content = crypto.createHash('sha256').update(fs.readFileSync(abs)).digest('hex');
    if (st.isSymbolicLink()) content = fs.readlinkSync(abs);
    out.push(`${rel} ${st.mode} ${st.size} ${st.mtimeNs} ${st.ino} ${content}`);
    if (st.isDirectory()) for (const n of fs.readdirSync(abs).sort()) visit(path.join(rel, n));
  };
  visit('.');
  return out;
}
