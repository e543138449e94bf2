import { request } from 'undici';
import { retryUntilSuccess } from './retry.ts';

export interface RegistrationLogger {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}

async function register(registrationUrl: string, descriptor: object): Promise<void> {
  const response = await request(registrationUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(descriptor),
  });
  const text = await response.body.text();
  if (response.statusCode >= 300) throw new Error(`directory answered ${response.statusCode}: ${text}`);
}

/**
 * POSTs `descriptor` to the directory's `registrationUrl` until it accepts, then again
 * every `refreshMs`, so that a restarted directory learns the service back.
 */
export async function keepRegistered(
  registrationUrl: string,
  descriptor: object,
  options: { retryMs: number; refreshMs: number; signal: AbortSignal; logger: RegistrationLogger },
): Promise<void> {
  const { logger, signal } = options;
  const attempt = () =>
    retryUntilSuccess(() => register(registrationUrl, descriptor), {
      delayMs: options.retryMs,
      signal,
      onFailure: (error, tries) => logger.warn({ tries, reason: String(error) }, 'registration failed; retrying'),
    });
  await attempt();
  logger.info({ registrationUrl, descriptor }, 'registered with the directory');
  const timer = setInterval(() => {
    attempt().catch(() => {});
  }, options.refreshMs);
  signal.addEventListener('abort', () => clearInterval(timer), { once: true });
}
