/**
 * The node's long-term Ed25519 identity key: its name to the directory, which binds
 * the node id to it on first registration. Kept at `${dataDir}/${nodeId}/identity.json`
 * (a @mixlab/runtime key file), created on first start; a restart reads it back, so the
 * node keeps its identity. A file that cannot be read is an error, never silently replaced.
 */
import { join } from 'node:path';
import { type LoadedKeyFile, loadOrCreateKeyFile } from '@mixlab/runtime';

export function identityPath(dataDir: string, nodeId: string): string {
  return join(dataDir, nodeId, 'identity.json');
}

/** Reads the identity at `path`, or creates one there (and its folder) when there is none. */
export function loadOrCreateIdentity(path: string): Promise<LoadedKeyFile<'ed25519'>> {
  return loadOrCreateKeyFile(path, 'ed25519', {
    name: 'node identity key',
    ifReplaced:
      'the directory refuses a new identity under this node id as conflicting until it forgets the old one ' +
      '(an epoch after the node was last heard from, at its next restart); or give the node a new NODE_ID',
  });
}
