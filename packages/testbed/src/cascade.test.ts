import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { freePorts } from './cascade.ts';

describe('freePorts', () => {
  it('gives distinct ports that are free once it returns', async () => {
    const ports = await freePorts(64);
    assert.equal(new Set(ports).size, 64, 'no port twice');
    for (const port of ports.slice(0, 8)) {
      const server = createServer();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', resolve);
      });
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
