import { retryUntilSuccess } from '@mixlab/service-kit';
import type { NodeDescriptor } from '@mixlab/topology';
import { request } from 'undici';

export interface RegistrationLogger {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}

async function register(directoryUrl: string, descriptor: NodeDescriptor): Promise<void> {
  const response = await request(`${directoryUrl}/v1/nodes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(descriptor),
  });
  const text = await response.body.text();
  if (response.statusCode >= 300) throw new Error(`directory answered ${response.statusCode}: ${text}`);
}

/**
 * Registers until the directory accepts, then again every `refreshMs`, so that a
 * restarted directory learns the node back.
 */
export async function keepRegistered(
  directoryUrl: string,
  descriptor: NodeDescriptor,
  options: { retryMs: number; refreshMs: number; signal: AbortSignal; logger: RegistrationLogger },
): Promise<void> {
  const { logger, signal } = options;
  const attempt = () =>
    retryUntilSuccess(() => register(directoryUrl, descriptor), {
      delayMs: options.retryMs,
      signal,
      onFailure: (error, tries) => logger.warn({ tries, reason: String(error) }, 'registration failed; retrying'),
    });
  await attempt();
  logger.info({ directoryUrl, descriptor }, 'registered with the directory');
  const timer = setInterval(() => {
    attempt().catch(() => {});
  }, options.refreshMs);
  signal.addEventListener('abort', () => clearInterval(timer), { once: true });
}
