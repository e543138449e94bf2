/**
 * A service's half of enrollment: it writes its public identity key to `<enrollDir>/<id>.pub`,
 * the file the directory's ENROLLMENT_DIR reads. Compose shares one volume for it, so its
 * own services enroll themselves at first start; elsewhere an operator copies the file.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { toHex } from '@mixlab/crypto';
import { writePublicFile } from '@mixlab/runtime';

/** Writes `identityKey` as hex to `<enrollDir>/<id>.pub` (atomically, mode 0644); returns the path. */
export async function enrollSelf(enrollDir: string, id: string, identityKey: Uint8Array): Promise<string> {
  const path = join(enrollDir, `${id}.pub`);
  await mkdir(enrollDir, { recursive: true });
  await writePublicFile(path, `${toHex(identityKey)}\n`);
  return path;
}
