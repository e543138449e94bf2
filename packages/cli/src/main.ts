#!/usr/bin/env node
/**
 * mixlab: talk to a mixlab network through its client gateway.
 *   mixlab topology
 *   mixlab send --to ADDRESS [--no-ack] [--ack-timeout SECONDS] [--attempts N] [--reveal-send-time] TEXT
 *   mixlab listen [--key FILE]
 *   mixlab load --clients N --rate R --duration D [--drain D] [--strategy LABEL] [--json FILE] [--seed N]
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MixnetClient } from '@mixlab/client';
import { cryptoReady, toHex } from '@mixlab/crypto';
import { type LoadSettings, parseLoadArgs } from '@mixlab/load';
import { loadOrCreateKeyFile } from '@mixlab/runtime';
import { LOAD_USAGE, loadCommand } from './load-command.ts';
import { sendCommand } from './send-command.ts';

const USAGE = `usage: mixlab [--gateway URL] <command>

commands:
  topology                 print the mix nodes of every layer
  send --to ADDRESS TEXT   send TEXT to the recipient whose address is ADDRESS, wait for its
                           acknowledgement and retransmit when none comes
                           (--no-ack, --ack-timeout SECONDS (20), --attempts N (3));
                           --reveal-send-time seals the send time into the message so that
                           listen can show its latency: a leak (the recipient, with a view of
                           the gateway, can match it to its submission), off by default
  listen [--key FILE]      print this client's address, then every message it receives (with
                           its latency when the sender revealed its send time)
  ${LOAD_USAGE}

options:
  --gateway URL   client gateway (default $MIXLAB_GATEWAY or http://127.0.0.1:8080)
  --directory-key HEX
                  the directory's public key, pinned: only a topology it signed is used
                  (default $MIXLAB_DIRECTORY_KEY; with compose:
                  export MIXLAB_DIRECTORY_KEY=$(docker compose exec directory cat /data/directory.pub))
  --key FILE      key file for listen (default $MIXLAB_KEY or ~/.mixlab/key.json; created if missing)`;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    gateway: { type: 'string', default: process.env.MIXLAB_GATEWAY ?? 'http://127.0.0.1:8080' },
    'directory-key': { type: 'string', default: process.env.MIXLAB_DIRECTORY_KEY },
    to: { type: 'string' },
    'no-ack': { type: 'boolean', default: false },
    'ack-timeout': { type: 'string', default: '20' },
    attempts: { type: 'string', default: '3' },
    'reveal-send-time': { type: 'boolean', default: false },
    key: { type: 'string', default: process.env.MIXLAB_KEY ?? join(homedir(), '.mixlab', 'key.json') },
    help: { type: 'boolean', short: 'h' },
    clients: { type: 'string' },
    rate: { type: 'string' },
    duration: { type: 'string' },
    drain: { type: 'string' },
    'drop-rate': { type: 'string' },
    'loop-rate': { type: 'string' },
    strategy: { type: 'string' },
    json: { type: 'string' },
    seed: { type: 'string' },
  },
});

function fail(message: string): never {
  console.error(`mixlab: ${message}`);
  process.exit(2);
}

await cryptoReady();
const directoryKey = values['directory-key'];
const client = new MixnetClient(values.gateway, { directoryKey });
const [command, ...rest] = positionals;

try {
  switch (values.help ? 'help' : command) {
    case 'topology': {
      const topology = await client.topology();
      topology.layers.forEach((nodes, index) => {
        console.log(`layer ${index + 1}:`);
        if (nodes.length === 0) console.log('  (no node yet)');
        for (const node of nodes) console.log(`  ${node.id.padEnd(16)} ${node.url.padEnd(24)} ${node.publicKey}`);
      });
      break;
    }
    case 'send': {
      if (!values.to) fail('send needs --to ADDRESS (the address `mixlab listen` prints)');
      if (rest.length === 0) fail('send needs the TEXT to send');
      const ackTimeout = Number(values['ack-timeout']);
      const attempts = Number(values.attempts);
      if (!(ackTimeout > 0)) fail(`--ack-timeout must be a positive number of seconds, got "${values['ack-timeout']}"`);
      if (!Number.isInteger(attempts) || attempts < 1)
        fail(`--attempts must be a positive integer, got "${values.attempts}"`);
      process.exitCode = await sendCommand(client, {
        to: values.to,
        text: rest.join(' '),
        acknowledge: !values['no-ack'],
        ackTimeoutMs: ackTimeout * 1000,
        attempts,
        revealSendTime: values['reveal-send-time'],
      });
      break;
    }
    case 'listen': {
      const { keys, created, legacy, permissionsTightened } = await loadOrCreateKeyFile(values.key, 'x25519', {
        name: 'client key',
        ifReplaced: 'a new key changes your address: senders must use the new one',
      });
      console.log(
        `${created ? 'created' : 'loaded'} key ${values.key}${legacy ? ' (older file format, still read)' : ''}`,
      );
      if (permissionsTightened) console.error(`mixlab: ${values.key} was readable by others; its mode is now 0600`);
      console.log(`address: ${toHex(keys.publicKey)}`);
      const subscription = client.receive(
        keys,
        (message) => {
          // Only a sender that chose to reveal its send time (send --reveal-send-time) gets a latency.
          const latency = message.sentAt === undefined ? '' : ` (${Date.now() - message.sentAt} ms)`;
          const text = new TextDecoder().decode(message.body);
          console.log(`[${new Date().toISOString()}] ${message.id}${latency}: ${text}`);
        },
        { onError: (error) => console.error(`mixlab: ${error.message}`) },
      );
      await subscription.opened;
      console.log(`listening on ${values.gateway} (Ctrl-C to stop)`);
      process.once('SIGINT', () => {
        subscription.close();
        process.exit(0);
      });
      break;
    }
    case 'load': {
      let settings: LoadSettings;
      try {
        settings = parseLoadArgs(values);
      } catch (error) {
        fail(`${(error as Error).message}\nusage: mixlab [--gateway URL] ${LOAD_USAGE}`);
      }
      await loadCommand({ gateway: values.gateway, directoryKey, settings, jsonFile: values.json });
      break;
    }
    case 'help':
      console.log(USAGE);
      break;
    default:
      fail(command ? `unknown command "${command}"\n${USAGE}` : USAGE);
  }
} catch (error) {
  fail((error as Error).message);
}
