/**
 * `waymond cluster status [--url URL] [--json]`: a running instance's view of its cluster
 * from /api/cluster: the live instances and what each owns, and every lease with its
 * holder, fencing token and time left.
 */
import { authHeaders, unauthorisedHint } from './daemon-auth.js';

export interface ClusterAnswer {
  instance: string;
  backend: string;
  lease_ttl_ms: number;
  healthy: boolean;
  problem?: string;
  members: { id: string; url?: string; since: number; owns: string[] }[];
  leases: { key: string; holder: string; token: string; expiresInMs: number | null; components: string[] }[];
  local: string[];
}

const seconds = (ms: number | null): string => (ms === null ? '-' : `${(ms / 1000).toFixed(1)}s`);

/** The text `cluster status` prints: a header, the instances, then the leases. */
export function renderCluster(c: ClusterAnswer, now: number): string {
  const idWidth = Math.max(8, ...c.members.map((m) => m.id.length));
  const line = (cells: string[], widths: number[]) =>
    cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ');
  const out = [
    `cluster on ${c.backend}, lease_ttl ${seconds(c.lease_ttl_ms)}, seen from ${c.instance}: ${c.healthy ? 'healthy' : `NOT HEALTHY: ${c.problem ?? ''}`}`,
    '',
    line(['INSTANCE', 'UP', 'OWNS'], [idWidth, 8]),
  ];
  for (const m of c.members) {
    const scalers = m.owns.filter((a) => a.startsWith('scaler.'));
    out.push(
      line(
        [m.id, seconds(now - m.since), `${scalers.length} scalers${scalers.length ? `: ${scalers.join(', ')}` : ''}`],
        [idWidth, 8],
      ),
    );
  }
  if (c.local.length > 0) out.push('', `placement = "local" (every instance runs its own): ${c.local.join(', ')}`);
  const keyWidth = Math.max(5, ...c.leases.map((l) => l.key.length));
  out.push('', line(['LEASE', 'HOLDER', 'TOKEN', 'EXPIRES IN', 'COMPONENTS'], [keyWidth, idWidth, 8, 10]));
  for (const l of c.leases)
    out.push(
      line([l.key, l.holder, l.token, seconds(l.expiresInMs), l.components.join(', ')], [keyWidth, idWidth, 8, 10]),
    );
  return `${out.join('\n')}\n`;
}

export async function clusterCommand(
  action: 'status',
  options: { url: string; json?: boolean; tokenEnv?: string },
): Promise<number> {
  if (action !== 'status') return 2;
  const base = options.url.replace(/\/$/, '');
  let answer: ClusterAnswer;
  try {
    const response = await fetch(`${base}/api/cluster`, { headers: authHeaders(options.tokenEnv) });
    if (response.status === 401) throw new Error(unauthorisedHint(options.tokenEnv));
    if (response.status === 404) throw new Error('this daemon runs without [cluster]');
    const body = (await response.json()) as ClusterAnswer & { error?: string };
    if (!response.ok) throw new Error(body.error ?? `/api/cluster: the daemon answered ${response.status}`);
    answer = body;
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    process.stderr.write(
      `error: cannot read the cluster from ${options.url}: ${cause?.code ?? (error as Error).message}\n`,
    );
    return 1;
  }
  process.stdout.write(options.json ? `${JSON.stringify(answer, null, 2)}\n` : renderCluster(answer, Date.now()));
  return answer.healthy ? 0 : 3;
}
