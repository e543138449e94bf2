import {
  AcknowledgedSender,
  DEFAULT_ACK_TIMEOUT_MS,
  type DeliveryEvent,
  isTransient,
  type MixnetClient,
  parseAddress,
  unreachableReason,
} from '@mixlab/client';
import { generateKeyPair } from '@mixlab/crypto';
import { type Clock, monotonicClock, sleep } from '@mixlab/runtime';
import { connectionLine, seconds } from './listen-command.ts';

export interface SendSettings {
  readonly to: string;
  readonly text: string;
  /** Wait for a delivery acknowledgement, retransmitting on time-out. */
  readonly acknowledge: boolean;
  /** Per attempt; undefined: from each attempt's route (AcknowledgedSender). */
  readonly ackTimeoutMs: number | undefined;
  readonly attempts: number;
  /** Seal the send time into the message for the recipient's latency display (a leak, opt-in). */
  readonly revealSendTime: boolean;
}

/** Where `send` writes: the console, or a test's lines. */
export interface SendOutput {
  readonly log: (line: string) => void;
  readonly error: (line: string) => void;
}

const consoleOutput: SendOutput = { log: console.log, error: console.error };

/**
 * The gateway's packet format (has it reply blocks?): asked before anything is sent, and
 * retried like a send, within the attempts, when the gateway is away for a moment.
 */
async function gatewayReplies(
  client: MixnetClient,
  settings: SendSettings,
  out: SendOutput,
  clock: Clock,
): ReturnType<MixnetClient['replyFormat']> {
  // No route yet, so no expected round trip: the fixed timeout, unless the user set one.
  const waitMs = settings.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      return await client.replyFormat();
    } catch (error) {
      if (!isTransient(error) || attempt >= settings.attempts) throw error;
      out.error(
        `mixlab: ${unreachableReason(client.gateway.baseUrl, error)}; retrying in ${seconds(waitMs)} (attempt ${attempt + 1} of ${settings.attempts})`,
      );
      await sleep(clock, waitMs);
    }
  }
}

/** `mixlab send`: returns the exit code (0 sent or acknowledged, 1 never acknowledged). */
export async function sendCommand(
  client: MixnetClient,
  settings: SendSettings,
  out: SendOutput = consoleOutput,
  clock: Clock = monotonicClock,
): Promise<number> {
  const recipient = parseAddress(settings.to);
  const body = new TextEncoder().encode(settings.text);
  const replies = await gatewayReplies(client, settings, out, clock);
  if (!settings.acknowledge || !replies) {
    const receipt = await client.send(recipient, body, {
      sentAt: settings.revealSendTime ? Date.now() : undefined,
    });
    const why = settings.acknowledge ? ' (this packet format has no reply blocks: no acknowledgement)' : '';
    out.log(`sent message ${receipt.messageId} via ${receipt.route.join(' → ')}${why}`);
    return 0;
  }
  // Acknowledgements come back to a key of this command's own, so they never mix with
  // the messages a `mixlab listen` on the user's key is receiving.
  const ackKeys = generateKeyPair();
  let lastFailed = false;
  const print = (event: DeliveryEvent) => {
    if (event.type === 'sent') {
      out.log(`sent message ${event.messageId} via ${event.route.join(' → ')} (attempt ${event.attempt})`);
    } else if (event.type === 'retransmitting') {
      // After a send that did not go out there is nothing to wait for: say it is a retry.
      const why = lastFailed ? 'retrying' : `no acknowledgement within ${seconds(event.waitedMs)}; retransmitting`;
      out.log(`${why} (attempt ${event.attempt} of ${settings.attempts})`);
    } else if (event.type === 'send_failed') {
      out.log(`attempt ${event.attempt} not sent: ${unreachableReason(client.gateway.baseUrl, event.error)}`);
    } else if (event.type === 'acknowledged') {
      out.log(
        `acknowledged after ${seconds(event.afterMs)} (${event.attempts} attempt${event.attempts > 1 ? 's' : ''})`,
      );
    } else {
      out.log(`no acknowledgement after ${event.attempts} attempts; giving up`);
    }
    lastFailed = event.type === 'send_failed';
  };
  let attempts = 1;
  const sender = new AcknowledgedSender(client, ackKeys, {
    ackTimeoutMs: settings.ackTimeoutMs,
    maxAttempts: settings.attempts,
    revealSendTime: settings.revealSendTime,
    onEvent: (event) => {
      if (event.type === 'retransmitting') attempts = event.attempt;
      print(event);
    },
    clock,
    onError: (error) => out.error(`mixlab: ${error.message}`),
  });
  // The acknowledgement waits in the gateway's mailbox until this socket (re)connects, so
  // sending does not wait for it to open.
  const subscription = client.receive(ackKeys, () => {}, {
    onReply: sender.handleReply,
    onError: (error) => out.error(`mixlab: ${error.message}`),
    onConnection: (event) => out.error(connectionLine(event, client.gateway.baseUrl)),
  });
  try {
    const { outcome } = await sender.send(recipient, body);
    const result = await outcome;
    // Measurement only: counts, no ids, so the dashboards can show acknowledged sending.
    await client.gateway
      .report(
        {
          deliveries: { [result === 'acknowledged' ? 'acknowledged' : 'expired']: 1, retransmitted: attempts - 1 },
          originated: { message: attempts },
        },
        ackKeys, // the session its acknowledgements' mailbox already has
      )
      .catch(() => {});
    return result === 'acknowledged' ? 0 : 1;
  } finally {
    sender.close();
    subscription.close();
  }
}
