import { AcknowledgedSender, type DeliveryEvent, type MixnetClient, parseAddress } from '@mixlab/client';
import { generateKeyPair } from '@mixlab/crypto';

export interface SendSettings {
  readonly to: string;
  readonly text: string;
  /** Wait for a delivery acknowledgement, retransmitting on time-out. */
  readonly acknowledge: boolean;
  readonly ackTimeoutMs: number;
  readonly attempts: number;
  /** Seal the send time into the message for the recipient's latency display (a leak, opt-in). */
  readonly revealSendTime: boolean;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** `mixlab send`: returns the exit code (0 sent or acknowledged, 1 never acknowledged). */
export async function sendCommand(client: MixnetClient, settings: SendSettings): Promise<number> {
  const recipient = parseAddress(settings.to);
  const body = new TextEncoder().encode(settings.text);
  const replies = await client.replyFormat();
  if (!settings.acknowledge || !replies) {
    const receipt = await client.send(recipient, body, {
      sentAt: settings.revealSendTime ? Date.now() : undefined,
    });
    const why = settings.acknowledge ? ' (this packet format has no reply blocks: no acknowledgement)' : '';
    console.log(`sent message ${receipt.messageId} via ${receipt.route.join(' → ')}${why}`);
    return 0;
  }
  // Acknowledgements come back to a key of this command's own, so they never mix with
  // the messages a `mixlab listen` on the user's key is receiving.
  const ackKeys = generateKeyPair();
  const print = (event: DeliveryEvent) => {
    if (event.type === 'sent') {
      console.log(`sent message ${event.messageId} via ${event.route.join(' → ')} (attempt ${event.attempt})`);
    } else if (event.type === 'retransmitting') {
      console.log(
        `no acknowledgement within ${seconds(settings.ackTimeoutMs)}; retransmitting (attempt ${event.attempt} of ${settings.attempts})`,
      );
    } else if (event.type === 'send_failed') {
      console.log(`attempt ${event.attempt} not sent: ${event.reason}`);
    } else if (event.type === 'acknowledged') {
      console.log(
        `acknowledged after ${seconds(event.afterMs)} (${event.attempts} attempt${event.attempts > 1 ? 's' : ''})`,
      );
    } else {
      console.log(`no acknowledgement after ${event.attempts} attempts; giving up`);
    }
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
    onError: (error) => console.error(`mixlab: ${error.message}`),
  });
  const subscription = client.receive(ackKeys, () => {}, {
    onReply: sender.handleReply,
    onError: (error) => console.error(`mixlab: ${error.message}`),
  });
  try {
    await subscription.opened;
    const { outcome } = await sender.send(recipient, body);
    const result = await outcome;
    // Measurement only: counts, no ids, so the dashboards can show acknowledged sending.
    await client.gateway
      .report({
        deliveries: { [result === 'acknowledged' ? 'acknowledged' : 'expired']: 1, retransmitted: attempts - 1 },
        originated: { message: attempts },
      })
      .catch(() => {});
    return result === 'acknowledged' ? 0 : 1;
  } finally {
    sender.close();
    subscription.close();
  }
}
