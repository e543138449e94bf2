/**
 * Where a V8 CPU profile's time went: self time by function and by source file (package), the
 * hottest first. `node experiments/profile/summarize.ts FILE.cpuprofile...` prints one table per file.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

function where(url: string): string {
  const short = url.replace(/^file:\/\/\/app\//, '').replace(/^file:\/\/\/work\/[^/]+\//, '');
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(short);
  if (pkg) return pkg[1] as string;
  if (short.startsWith('node:')) return short;
  return short || '(native)';
}

export function summarizeProfiles(title: string, files: readonly string[], top = 22): string {
  const lines: string[] = [];
  for (const file of files) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const byId = new Map(profile.nodes.map((node) => [node.id, node]));
    const self = new Map<number, number>();
    profile.samples.forEach((id, i) => {
      self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
    });
    const total = [...self.values()].reduce((a, b) => a + b, 0);
    const idle = [...self]
      .filter(([id]) => byId.get(id)?.callFrame.functionName === '(idle)')
      .reduce((a, [, t]) => a + t, 0);
    const busy = total - idle;
    const byFunction = new Map<string, number>();
    const byFile = new Map<string, number>();
    for (const [id, micros] of self) {
      const { functionName, url, lineNumber } = (byId.get(id) as ProfileNode).callFrame;
      if (functionName === '(idle)') continue;
      const key = `${functionName || '(anonymous)'} ${where(url)}${url ? `:${lineNumber + 1}` : ''}`;
      byFunction.set(key, (byFunction.get(key) ?? 0) + micros);
      byFile.set(where(url), (byFile.get(where(url)) ?? 0) + micros);
    }
    const pct = (micros: number) => `${((100 * micros) / busy).toFixed(1).padStart(5)}%`;
    lines.push(
      `\n== ${title}: ${file.split('/').at(-1)}: busy ${(busy / 1e6).toFixed(2)} s of ${(total / 1e6).toFixed(2)} s`,
    );
    lines.push('  by file:');
    for (const [key, micros] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 14))
      lines.push(`   ${pct(micros)} ${key}`);
    lines.push('  by function:');
    for (const [key, micros] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top))
      lines.push(`   ${pct(micros)} ${key}`);
  }
  return lines.join('\n');
}

if (import.meta.main) {
  console.log(summarizeProfiles('profile', process.argv.slice(2)));
}
