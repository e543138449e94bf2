import type { ConnectionEvent } from '@mixlab/client';

/** A duration as the CLI prints it: `1.2 s`. */
export const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** What `listen` (and `send`, for its acknowledgements) says on stderr when the gateway comes and goes. */
export function connectionLine(event: ConnectionEvent, gateway: string): string {
  switch (event.type) {
    case 'lost':
      return `mixlab: no mailbox connection to the gateway: ${event.reason}; reconnecting in ${seconds(event.retryInMs)} (${event.failures} failed in a row)`;
    case 'reopened':
      return `mixlab: reconnected to ${gateway}${event.failures > 0 ? ` after ${event.failures} failed attempt${event.failures > 1 ? 's' : ''}` : ''}`;
    case 'gave_up':
      return `mixlab: giving up after ${event.failures} failed reconnection${event.failures === 1 ? '' : 's'} (--give-up-after): ${event.reason}`;
  }
}
