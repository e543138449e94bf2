import { Agent } from 'undici';

/**
 * For tests and experiments that call the gateway's HTTPS API directly (undici's `request`
 * or `fetch` with `{ dispatcher }`): TLS without checking the gateway's key. Only the test
 * side may skip it; MixnetClient checks the key against the signed topology.
 */
export function uncheckedGatewayAgent(): Agent {
  return new Agent({ connect: { rejectUnauthorized: false } });
}
