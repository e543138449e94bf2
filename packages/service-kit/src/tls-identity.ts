/**
 * TLS bound to an Ed25519 identity key: a service's self-signed X.509 certificate whose key
 * IS its identity key (no fingerprint, no CA), and the client side that reads the key a
 * server presented and accepts it only when a check says it is the right one (the key in a
 * signed topology). Imported on its own (`@mixlab/service-kit/tls-identity`) so that clients
 * do not load fastify.
 */
import { createPrivateKey, createPublicKey, type KeyObject, sign } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { Agent, buildConnector } from 'undici';

/** An Ed25519 key pair in libsodium's format: 32-byte public key, 64-byte secret (seed | public) or the 32-byte seed. */
export interface IdentityKeys {
  readonly publicKey: Uint8Array;
  readonly privateKey: Uint8Array;
}

const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');

/** node:crypto KeyObjects of a libsodium Ed25519 key pair (the seed is the first 32 bytes of either form). */
export function identityKeyObjects(identity: IdentityKeys): { privateKey: KeyObject; publicKey: KeyObject } {
  if (identity.publicKey.length !== 32 || (identity.privateKey.length !== 32 && identity.privateKey.length !== 64)) {
    throw new RangeError('an Ed25519 identity is a 32-byte public key and a 32- or 64-byte private key');
  }
  const jwk = { kty: 'OKP', crv: 'Ed25519', x: b64url(identity.publicKey) };
  return {
    privateKey: createPrivateKey({ key: { ...jwk, d: b64url(identity.privateKey.subarray(0, 32)) }, format: 'jwk' }),
    publicKey: createPublicKey({ key: jwk, format: 'jwk' }),
  };
}

// A minimal DER writer: just what one certificate needs.
function length(n: number): Buffer {
  if (n < 128) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let rest = n; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const tlv = (tag: number, ...parts: Buffer[]) => {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
};
const sequence = (...parts: Buffer[]) => tlv(0x30, ...parts);
/** AlgorithmIdentifier of Ed25519 (OID 1.3.101.112, no parameters: RFC 8410). */
const ED25519_ALGORITHM = sequence(Buffer.from([0x06, 0x03, 0x2b, 0x65, 0x70]));
/** A Name with one CN. */
const commonNameOf = (cn: string) =>
  sequence(tlv(0x31, sequence(Buffer.from([0x06, 0x03, 0x55, 0x04, 0x03]), tlv(0x0c, Buffer.from(cn, 'utf8')))));
/** GeneralizedTime, whole seconds. */
const generalizedTime = (date: Date) =>
  tlv(0x18, Buffer.from(`${date.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`));

/** The validity carries no meaning here (trust comes from the signed topology), so it spans all time. */
const NOT_BEFORE = new Date('2020-01-01T00:00:00Z');
const NOT_AFTER = new Date('9999-12-31T23:59:59Z');

/** A self-signed X.509 v3 certificate (DER) for `identity`, with CN `commonName` (the service's id). */
export function selfSignedCertificate(identity: IdentityKeys, commonName: string): Buffer {
  const { privateKey, publicKey } = identityKeyObjects(identity);
  const name = commonNameOf(commonName);
  const tbs = sequence(
    tlv(0xa0, tlv(0x02, Buffer.from([2]))), // version 3
    tlv(0x02, Buffer.from([1])), // serial
    ED25519_ALGORITHM,
    name,
    sequence(generalizedTime(NOT_BEFORE), generalizedTime(NOT_AFTER)),
    name,
    publicKey.export({ format: 'der', type: 'spki' }),
  );
  const signature = sign(null, tbs, privateKey);
  return sequence(tbs, ED25519_ALGORITHM, tlv(0x03, Buffer.from([0]), signature));
}

const pem = (label: string, der: Buffer) =>
  `-----BEGIN ${label}-----\n${der
    .toString('base64')
    .match(/.{1,64}/g)
    ?.join('\n')}\n-----END ${label}-----\n`;

/** What `https.createServer` (and fastify's `https` option) takes to serve TLS 1.3 as `identity`. */
export function tlsServerOptions(
  identity: IdentityKeys,
  commonName: string,
): { key: string; cert: string; minVersion: 'TLSv1.3' } {
  const { privateKey } = identityKeyObjects(identity);
  return {
    key: privateKey.export({ format: 'pem', type: 'pkcs8' }) as string,
    cert: pem('CERTIFICATE', selfSignedCertificate(identity, commonName)),
    minVersion: 'TLSv1.3',
  };
}

/** The Ed25519 key (hex) of the certificate a TLS peer presented; undefined for any other kind of key. */
export function peerIdentityKey(socket: TLSSocket): string | undefined {
  const key = socket.getPeerX509Certificate()?.publicKey;
  if (key?.asymmetricKeyType !== 'ed25519') return undefined;
  const { x } = key.export({ format: 'jwk' });
  return x === undefined ? undefined : Buffer.from(x, 'base64url').toString('hex');
}

/**
 * Thrown on a connection whose server presented a key the check refused; `identityKey` is
 * that key (hex), or undefined when the certificate held no Ed25519 key.
 */
export class PeerIdentityError extends Error {
  readonly identityKey: string | undefined;
  constructor(message: string, identityKey: string | undefined) {
    super(message);
    this.name = 'PeerIdentityError';
    this.identityKey = identityKey;
  }
}

export interface IdentityCheckingAgentOptions extends Omit<Agent.Options, 'connect'> {
  /**
   * Called with the server's identity key (hex) on every new connection, after the TLS
   * handshake and before any request is sent on it: a string refuses the connection (the
   * reason), undefined accepts it.
   */
  readonly check: (identityKey: string | undefined) => string | undefined;
}

/**
 * An undici Agent for https servers that authenticate with their identity key rather than a
 * CA: the certificate chain is not checked (it is self-signed), the key in it is, by `check`.
 * Plain http URLs pass through unchecked.
 */
export function identityCheckingAgent({ check, ...options }: IdentityCheckingAgentOptions): Agent {
  // No session resumption: a resumed connection shows no certificate, so no key to check.
  const connect = buildConnector({ rejectUnauthorized: false, minVersion: 'TLSv1.3', maxCachedSessions: 0 });
  return new Agent({
    ...options,
    connect: (connectOptions, callback) =>
      connect(connectOptions, (error, socket) => {
        if (error || connectOptions.protocol !== 'https:') {
          if (error) callback(error, null);
          else callback(null, socket);
          return;
        }
        const key = peerIdentityKey(socket as TLSSocket);
        const refusal = check(key);
        if (refusal === undefined) return callback(null, socket);
        socket.destroy();
        callback(new PeerIdentityError(refusal, key), null);
      }),
  });
}
