#!/usr/bin/env node
/**
 * Copies images from this machine's Docker engine to other engines, with no registry:
 * `docker save IMAGES | docker --host HOST load`, one host after another.
 *
 *   node deploy/swarm/copy-images.ts --to ssh://admin@host-2 --to ssh://admin@host-3 mixlab:local prom/prometheus:v3.5.0
 *
 * HOST is anything `docker --host` takes: ssh://user@host (Docker runs `docker system
 * dial-stdio` there over ssh), tcp://host:2376 with TLS, unix:///path/to/docker.sock.
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';

/** Runs `docker save images | docker --host host load`; rejects with what either side said. */
export function copyImages(images: readonly string[], host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const save = spawn('docker', ['save', ...images], { stdio: ['ignore', 'pipe', 'pipe'] });
    const load = spawn('docker', ['--host', host, 'load'], { stdio: ['pipe', 'pipe', 'pipe'] });
    save.stdout.pipe(load.stdin);
    // A load that fails early closes its input: that is reported below, not thrown here.
    load.stdin.on('error', () => {});
    let saveErr = '';
    let loadOut = '';
    save.stderr.on('data', (chunk) => {
      saveErr += chunk;
    });
    load.stdout.on('data', (chunk) => {
      loadOut += chunk;
    });
    load.stderr.on('data', (chunk) => {
      loadOut += chunk;
    });
    const saved = new Promise<number | null>((done) => save.on('close', done));
    save.on('error', reject);
    load.on('error', reject);
    load.on('close', async (code) => {
      if (code !== 0) save.kill();
      const saveCode = await saved;
      // A save that failed by itself (not killed above) is the cause of whatever load said.
      if (saveCode !== 0 && saveCode !== null) {
        reject(new Error(`docker save ${images.join(' ')} failed (${saveCode}): ${saveErr.trim()}`));
      } else if (code !== 0) reject(new Error(`docker --host ${host} load failed (${code}): ${loadOut.trim()}`));
      else resolve(loadOut.trim());
    });
  });
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { to: { type: 'string', multiple: true, default: [] }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help || values.to.length === 0 || positionals.length === 0) {
    console.error('usage: node deploy/swarm/copy-images.ts --to HOST [--to HOST ...] IMAGE [IMAGE ...]');
    process.exit(values.help ? 0 : 2);
  }
  for (const host of values.to) {
    try {
      console.log(`${host}: ${await copyImages(positionals, host)}`);
    } catch (error) {
      console.error(`copy-images: ${(error as Error).message}`);
      process.exit(1);
    }
  }
}
