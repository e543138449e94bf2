import { type Dispatcher, request } from 'undici';
import { type SignedTopology, topologyShapeProblems } from './topology-signing.ts';

/**
 * GETs `${baseUrl}/v1/topology`: the directory's signed document (the gateway passes it
 * on unchanged). Checks only that it has the shape of one; whoever routes through it
 * verifies the signature (TopologyCache's `verify`).
 */
export async function fetchSignedTopology(baseUrl: string, dispatcher?: Dispatcher): Promise<SignedTopology> {
  const response = await request(`${baseUrl}/v1/topology`, dispatcher ? { dispatcher } : {});
  if (response.statusCode !== 200) {
    // The shared error body says why ({ error, message }); anything else is cut short.
    const text = await response.body.text();
    let said = text.slice(0, 200);
    try {
      const { error, message } = JSON.parse(text) as { error?: unknown; message?: unknown };
      if (typeof error === 'string' && typeof message === 'string') said = `${error}: ${message}`;
    } catch {
      // not JSON
    }
    // The status rides along: a client retries a 503 (directory restarting), not a 404.
    throw Object.assign(
      new Error(`topology request to ${baseUrl} answered ${response.statusCode}${said ? ` (${said})` : ''}`),
      { status: response.statusCode },
    );
  }
  const signed = (await response.body.json()) as SignedTopology;
  const problems = topologyShapeProblems(signed?.document);
  if (problems.length > 0) throw new Error(`topology from ${baseUrl} is unusable: ${problems.join('; ')}`);
  return signed;
}
