import { request } from 'undici';
import { retryUntilSuccess } from './retry.ts';

export interface RegistrationLogger {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}

/**
 * The directory answered, but not with a success: `reason` (its rejection reason, else its
 * error code) and `problem` are what it said, when it said them.
 */
class RegistrationRefused extends Error {
  readonly statusCode: number;
  readonly reason: string | undefined;
  readonly problem: string;

  constructor(statusCode: number, body: string) {
    const { reason, problem } = refusalOf(body);
    super(`directory refused the registration (HTTP ${statusCode}${reason ? `, ${reason}` : ''}): ${problem}`);
    this.name = 'RegistrationRefused';
    this.statusCode = statusCode;
    this.reason = reason;
    this.problem = problem;
  }
}

/**
 * Reads the shared error body, `{ error, message, reason?, problems? }` (errors.ts): the
 * reason is the directory's rejection reason, else the error code; the problem its
 * `problems`, else its message. Any other body (a proxy's page) is the problem as it is.
 */
function refusalOf(body: string): { reason: string | undefined; problem: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { reason: undefined, problem: body.slice(0, 1000) || '(empty body)' };
  }
  if (typeof parsed !== 'object' || parsed === null) return { reason: undefined, problem: body.slice(0, 1000) };
  const fields = parsed as Record<string, unknown>;
  const text = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);
  const problems = Array.isArray(fields.problems) ? fields.problems.map(String).join('; ') : undefined;
  const reason = text(fields.reason) ?? text(fields.error);
  const problem = problems ?? text(fields.message) ?? body.slice(0, 1000);
  return { reason, problem };
}

async function register(registrationUrl: string, descriptor: object, signal: AbortSignal): Promise<void> {
  const response = await request(registrationUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(descriptor),
    signal,
  });
  const text = await response.body.text();
  if (response.statusCode >= 300) throw new RegistrationRefused(response.statusCode, text);
}

function failureDetails(error: unknown): object {
  return error instanceof RegistrationRefused
    ? { status: error.statusCode, reason: error.reason, problem: error.problem }
    : { reason: String(error) };
}

export interface RegistrationOptions {
  /** Wait between tries until the first registration succeeds. */
  readonly retryMs: number;
  /** Heartbeat: registers again this often, so that the directory keeps (or learns back) the service. */
  readonly refreshMs: number;
  /** Gives up on one POST after this long (default 5 s). */
  readonly timeoutMs?: number;
  readonly signal: AbortSignal;
  readonly logger: RegistrationLogger;
}

/** A running registration: `refresh` registers again now (after a key rotation, say). */
export interface Registration {
  refresh(): void;
}

/**
 * POSTs `describe()` to the directory's `registrationUrl` until it accepts, then again
 * every `refreshMs` (a heartbeat) and whenever `refresh` is called. `describe` runs for
 * every POST, so a signed descriptor is freshly signed each time. One POST at a time:
 * a refresh asked for while one is on its way follows it. A failed heartbeat is logged
 * with the directory's reason and tried again at the next one.
 */
export async function keepRegistered(
  registrationUrl: string,
  describe: () => object,
  options: RegistrationOptions,
): Promise<Registration> {
  const { logger, signal } = options;
  const timeoutMs = options.timeoutMs ?? 5_000;
  // A POST on its way when the service stops is given up, not waited for.
  const post = () => register(registrationUrl, describe(), AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]));
  await retryUntilSuccess(post, {
    delayMs: options.retryMs,
    signal,
    onFailure: (error, tries) => logger.warn({ tries, ...failureDetails(error) }, 'registration failed; retrying'),
  });
  logger.info({ registrationUrl }, 'registered with the directory');

  let inflight = false;
  let again = false;
  let failing = false;
  const beat = async (): Promise<void> => {
    if (signal.aborted) return;
    if (inflight) {
      again = true;
      return;
    }
    inflight = true;
    try {
      await post();
      if (failing) logger.info({ registrationUrl }, 'registered with the directory again');
      failing = false;
    } catch (error) {
      failing = true;
      logger.warn(failureDetails(error), 'registration heartbeat failed; trying again at the next one');
    } finally {
      inflight = false;
    }
    if (again) {
      again = false;
      await beat();
    }
  };
  const timer = setInterval(() => void beat(), options.refreshMs);
  signal.addEventListener('abort', () => clearInterval(timer), { once: true });
  return { refresh: () => void beat() };
}
