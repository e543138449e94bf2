/** Helpers for the CLI's tests. */
import { createServer } from 'node:net';

/** The URL of a local port nobody listens on (it was free a moment ago). */
export async function closedPort(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return `https://127.0.0.1:${port}`;
}
