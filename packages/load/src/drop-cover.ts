import type { MixnetClient } from '@mixlab/client';
import { randomBytes } from '@mixlab/crypto';
import type { SubmittedPacket } from '@mixlab/gateway-api';
import { DROP_RECIPIENT, type PacketFormatName, packetFormat } from '@mixlab/packet';
import { secureRandom } from '@mixlab/runtime';
import { pickRoute } from '@mixlab/topology';

/**
 * `count` drop-cover packets wrapped ahead of time, each over a fresh route of the verified
 * topology `client` sees, for floods: real packets of the real size, which every layer peels
 * and the exit discards (`outcome="sunk"`), so a flood loads the whole cascade without
 * filling anyone's mailbox. Wrapped beforehand, so that sending them costs the flooder little.
 */
export async function wrapDropCover(client: MixnetClient, count: number): Promise<SubmittedPacket[]> {
  const [topology, info] = await Promise.all([client.topology(), client.gateway.info()]);
  const format = packetFormat(info.packetFormat as PacketFormatName);
  if (!format) throw new Error(`the gateway runs packet format ${info.packetFormat}, which this library does not know`);
  const destination = { gateway: info.gatewayId, recipient: DROP_RECIPIENT };
  const payloadBytes = format.payloadCapacity?.(destination) ?? 256;
  return Array.from({ length: count }, () => {
    const route = pickRoute(topology, secureRandom);
    const hops = route.map((node) => ({ id: node.id, publicKey: Buffer.from(node.publicKey, 'hex') }));
    const packet = format.wrap(hops, destination, randomBytes(payloadBytes));
    return { firstHop: route[0]?.id ?? '', packet: Buffer.from(packet).toString('base64') };
  });
}
