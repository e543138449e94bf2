import { createSocket } from 'node:dgram';
import { anonymityMetrics, createServiceRegistry } from '@mixlab/metrics';
import { formatStrategyConfig } from '@mixlab/mixing';
import { listenUntilSignalled, readConfigOrExit } from '@mixlab/service-kit';
import { fetchSignedTopology } from '@mixlab/topology';
import { type AttackScoresFollower, attackScoreGauge, followAttackScores } from './attack-scores.ts';
import { readConfig } from './config.ts';
import { Observatory } from './observatory.ts';
import { buildServer } from './server.ts';
import { TraceRecorder } from './trace-recorder.ts';

const config = readConfigOrExit('observer', () => readConfig(process.env));
const registry = createServiceRegistry({ node: 'observer' });
let app: ReturnType<typeof buildServer> | undefined;
const trace = new TraceRecorder(config.traceEvents);
const observatory = new Observatory({
  strategy: config.strategy,
  maxClients: config.maxClients,
  slackMs: config.slackMs,
  releaseLagMs: config.releaseLagMs,
  recentMessages: config.recentMessages,
  metrics: anonymityMetrics(registry),
  trace,
  logger: { info: (details, message) => app?.log.info(details, message) },
});

let topologyKnown = false;
const tap = createSocket('udp4');
tap.on('message', (datagram) => observatory.ingest(datagram));
tap.on('error', (error) => app?.log.warn({ reason: String(error) }, 'tap socket error'));
await new Promise<void>((resolve) => tap.bind(config.tapPort, resolve));

const attackScores = attackScoreGauge(registry);
app = buildServer({
  observatory,
  registry,
  trace,
  isReady: () => topologyKnown,
  logger: { level: config.logLevel, base: { node: 'observer' } },
});

// Wall-clock time, as the taps stamp it (every container reads the host's clock).
const ticker = setInterval(() => observatory.advance(Date.now()), 50);
const refreshTopology = async () => {
  try {
    // Unverified, as the mix nodes read it: only which address is which node matters here.
    topologyKnown = observatory.setTopology((await fetchSignedTopology(config.directoryUrl)).document);
  } catch (error) {
    app?.log.warn({ reason: String(error) }, 'topology not refreshed (directory unreachable or unusable)');
  }
};
const refresher = setInterval(refreshTopology, config.topologyRefreshMs);
let scores: AttackScoresFollower | undefined;
await listenUntilSignalled(app, config.port, () => {
  clearInterval(ticker);
  clearInterval(refresher);
  scores?.close();
  tap.close();
});
app.log.info(
  { tapPort: config.tapPort, strategy: formatStrategyConfig(config.strategy), directory: config.directoryUrl },
  'observer listening',
);
// The dashboard's attack scores come only from this file: re-read when it changes and on SIGHUP.
if (config.attackScoresFile) {
  const logger = {
    info: (d: object, m: string) => app?.log.info(d, m),
    warn: (d: object, m: string) => app?.log.warn(d, m),
  };
  scores = followAttackScores(config.attackScoresFile, attackScores, logger);
  process.on('SIGHUP', () => void scores?.reload());
}
await refreshTopology();
