/**
 * A passive adversary on the compose network: tcpdump in a container on the host's
 * network namespace, capturing a bridge interface to a pcap file that `stop()` copies
 * out. Every caller must `stop()` (or `dispose()`) the capture, also on failure.
 */
import { fileURLToPath } from 'node:url';
import { GenericContainer, getContainerRuntimeClient, type StartedTestContainer, Wait } from 'testcontainers';

const CONTEXT = fileURLToPath(new URL('.', import.meta.url));
const CAPTURE_IMAGE = 'mixlab-capture:local';
const PCAP = '/capture/wire.pcap';
const PID_FILE = '/capture/tcpdump.pid';

let built: Promise<void> | undefined;

/** Builds the capture image once per process (the classic builder's cache makes rebuilds cheap). */
export function buildCaptureImage(): Promise<void> {
  built ??= GenericContainer.fromDockerfile(CONTEXT, 'Dockerfile')
    .build(CAPTURE_IMAGE, { deleteOnExit: false })
    .then(() => undefined);
  built.catch(() => {
    built = undefined;
  });
  return built;
}

/**
 * The host interface of a Docker bridge network: `com.docker.network.bridge.name` when
 * the network sets one, else `br-` and the first 12 characters of its id.
 */
export async function bridgeInterface(networkId: string): Promise<string> {
  const client = await getContainerRuntimeClient();
  const network = (await client.network.getById(networkId).inspect()) as {
    Id: string;
    Driver: string;
    Options?: Record<string, string>;
  };
  if (network.Driver !== 'bridge')
    throw new Error(`network ${networkId} uses the ${network.Driver} driver, not bridge`);
  return network.Options?.['com.docker.network.bridge.name'] ?? `br-${network.Id.slice(0, 12)}`;
}

export interface Capture {
  /** Stops tcpdump with SIGINT (so it flushes and writes its counters) and returns the pcap file. */
  stop(): Promise<{ pcap: Buffer; summary: string }>;
  /** Removes the container; safe to call at any time, also after `stop()`. */
  dispose(): Promise<void>;
}

async function readTar(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/** The one regular file in a tar archive (what the Docker archive API returns for a file path). */
function untarSingleFile(tar: Buffer): Buffer {
  let offset = 0;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((byte) => byte === 0)) break;
    const size = Number.parseInt(header.subarray(124, 136).toString('latin1').replace(/\0.*$/s, '').trim() || '0', 8);
    const type = String.fromCharCode(header[156] ?? 0);
    const start = offset + 512;
    if (type === '0' || type === '\0') return tar.subarray(start, start + size);
    offset = start + Math.ceil(size / 512) * 512; // pax headers and the like
  }
  throw new Error('the archive holds no regular file');
}

/**
 * Starts tcpdump on `iface` (a host interface) with `filter`, and resolves once it is
 * listening. Needs NET_ADMIN and NET_RAW; runs as root (`-Z root`) so the pcap can be
 * written wherever.
 */
export async function startCapture(iface: string, filter: string): Promise<Capture> {
  if (!/^[\w.-]+$/.test(iface)) throw new Error(`unexpected interface name "${iface}"`);
  await buildCaptureImage();
  const script = [
    'mkdir -p /capture',
    // -s: whole frames (up to a 64 KiB offloaded segment); -B: a 32 MiB kernel buffer, since in
    // immediate mode the ring holds buffer/snaplen frames and the default 2 MiB drops bursts;
    // -U and --immediate-mode: hand over and write each packet as it comes (without, packets
    // still in the kernel ring when SIGINT arrives are lost); -n: no name look-ups.
    `tcpdump -Z root -n -s 65600 -B 32768 -U --immediate-mode -i ${iface} -w ${PCAP} "$FILTER" & echo $! > ${PID_FILE}`,
    'wait',
    'echo "tcpdump exited"',
    // Stay up so the file can be copied out; `stop()` removes the container.
    'exec sleep infinity',
  ].join('\n');
  let log = '';
  const container: StartedTestContainer = await new GenericContainer(CAPTURE_IMAGE)
    .withLogConsumer((stream) => {
      stream.on('data', (chunk: Buffer | string) => {
        log += chunk.toString();
      });
    })
    .withNetworkMode('host')
    .withAddedCapabilities('NET_ADMIN', 'NET_RAW')
    .withEnvironment({ FILTER: filter })
    .withCommand(['sh', '-c', script])
    .withWaitStrategy(Wait.forLogMessage(/listening on/))
    .withStartupTimeout(30_000)
    .start();
  let removed = false;
  const dispose = async () => {
    if (removed) return;
    removed = true;
    await container.stop({ timeout: 0 });
  };
  return {
    dispose,
    stop: async () => {
      const result = await container.exec(['sh', '-c', `kill -INT "$(cat ${PID_FILE})"`]);
      if (result.exitCode !== 0) throw new Error(`cannot signal tcpdump: ${result.output}`);
      const deadline = Date.now() + 10_000;
      while (!log.includes('tcpdump exited')) {
        if (Date.now() > deadline) throw new Error(`tcpdump did not stop within 10 s; its log:\n${log}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const pcap = untarSingleFile(await readTar(await container.copyArchiveFromContainer(PCAP)));
      // "N packets captured / received by filter / dropped by kernel"
      const summary = log
        .split('\n')
        .filter((line) => /packets (captured|received|dropped)/.test(line))
        .map((line) => line.trim())
        .join('; ');
      await dispose();
      return { pcap, summary };
    },
  };
}
