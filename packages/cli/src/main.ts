#!/usr/bin/env node
/**
 * mixlab: talk to a mixlab network through its client gateway.
 *   mixlab topology
 *   mixlab send --to ADDRESS [--no-ack] [--ack-timeout SECONDS] [--attempts N] [--reveal-send-time] TEXT
 *   mixlab listen [--key FILE] [--give-up-after N]
 *   mixlab load --clients N --rate R --duration D [--drain D] [--strategy LABEL] [--json FILE] [--seed N]
 *   mixlab [<command>] --help
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { MixnetClient, unreachableReason } from '@mixlab/client';
import { cryptoReady, toHex } from '@mixlab/crypto';
import { loadOrCreateKeyFile } from '@mixlab/runtime';
import { parseCommandLine } from './command-line.ts';
import { connectionLine } from './listen-command.ts';
import { loadCommand } from './load-command.ts';
import { sendCommand } from './send-command.ts';

/** Exit codes: 0 done, 1 it did not work out (gateway unreachable, never acknowledged, gave up), 2 a usage error. */
function fail(message: string, code: 1 | 2): never {
  console.error(`mixlab: ${message}`);
  process.exit(code);
}

const parsed = parseCommandLine({
  argv: process.argv.slice(2),
  env: process.env,
  defaultKeyFile: join(homedir(), '.mixlab', 'key.json'),
});
if (parsed.kind === 'help') {
  console.log(parsed.text);
  process.exit(0);
}
if (parsed.kind === 'error') fail(parsed.message, 2);

await cryptoReady();
const { gateway, directoryKey } = parsed;
const client = new MixnetClient(gateway, { directoryKey });

try {
  switch (parsed.kind) {
    case 'topology': {
      const topology = await client.topology();
      topology.layers.forEach((nodes, index) => {
        console.log(`layer ${index + 1}:`);
        if (nodes.length === 0) console.log('  (no node yet)');
        for (const node of nodes) console.log(`  ${node.id.padEnd(16)} ${node.url.padEnd(24)} ${node.publicKey}`);
      });
      break;
    }
    case 'send':
      process.exitCode = await sendCommand(client, parsed.settings);
      break;
    case 'listen': {
      const { keys, created, legacy, permissionsTightened } = await loadOrCreateKeyFile(parsed.keyFile, 'x25519', {
        name: 'client key',
        ifReplaced: 'a new key changes your address: senders must use the new one',
      });
      console.log(
        `${created ? 'created' : 'loaded'} key ${parsed.keyFile}${legacy ? ' (older file format, still read)' : ''}`,
      );
      if (permissionsTightened) console.error(`mixlab: ${parsed.keyFile} was readable by others; its mode is now 0600`);
      console.log(`address: ${toHex(keys.publicKey)}`);
      const subscription = client.receive(
        keys,
        (message) => {
          // Only a sender that chose to reveal its send time (send --reveal-send-time) gets a latency.
          const latency = message.sentAt === undefined ? '' : ` (${Date.now() - message.sentAt} ms)`;
          const text = new TextDecoder().decode(message.body);
          console.log(`[${new Date().toISOString()}] ${message.id}${latency}: ${text}`);
        },
        {
          onError: (error) => console.error(`mixlab: ${error.message}`),
          // Rides out gateway restarts; gives up only after --give-up-after failures in a row.
          reconnect: { maxAttempts: parsed.giveUpAfter ?? Infinity },
          onConnection: (event) => console.error(connectionLine(event, gateway)),
        },
      );
      process.once('SIGINT', () => {
        subscription.close();
        process.exit(0);
      });
      await subscription.opened;
      console.log(`listening on ${gateway} (Ctrl-C to stop)`);
      // Rejects only when it gave up: the line above said why.
      await subscription.done.catch(() => process.exit(1));
      break;
    }
    case 'load':
      await loadCommand({ gateway, directoryKey, settings: parsed.settings, jsonFile: parsed.jsonFile });
      break;
  }
} catch (error) {
  fail(unreachableReason(gateway, error), 1);
}
