/**
 * Policy evaluations per second: the pure decision maths (strategy, stabilization windows,
 * rate limits, cooldowns) over a bursty metric, one evaluation every 15 s of virtual time.
 */
import type { Member } from '../src/core/types.js';
import { evaluatePolicy, initialPolicyState, parsePolicyConfig } from '../src/policy/index.js';

const configs = {
  'per_replica, HPA default behaviour': parsePolicyConfig({ strategy: 'per_replica', per_replica: 3, max: 100 }),
  'target_value, 5m down window, rate policies, cooldowns': parsePolicyConfig({
    strategy: 'target_value',
    target: 50,
    max: 100,
    scale_up: {
      policies: [
        { type: 'count', value: 4, period: '15s' },
        { type: 'percent', value: 100, period: '15s' },
      ],
      cooldown: '30s',
    },
    scale_down: {
      stabilization_window: '5m',
      policies: [{ type: 'percent', value: 10, period: '1m' }],
      cooldown: '2m',
    },
  }),
  'steps (AWS) with min_adjustment': parsePolicyConfig({
    strategy: 'steps',
    threshold: 100,
    min_adjustment: 2,
    steps: [
      { lower: 0, upper: 50, change: '+10%' },
      { lower: 50, change: '+30%' },
      { upper: 0, change: '-10%' },
    ],
    max: 100,
  }),
  'jobs (CI queue: waiting + running, target_wait 30s, startup 90s)': parsePolicyConfig({
    strategy: 'jobs',
    include: 'running',
    target_wait: '30s',
    startup: '90s',
    max: 100,
  }),
  'jobs + forecast (15m buckets, learned over the run) + observed start-up (the members passed in)': parsePolicyConfig({
    strategy: 'jobs',
    include: 'running',
    target_wait: '30s',
    startup: '90s',
    forecast: { min_history: '24h' },
    max: 100,
  }),
};

/** The members a scaler would report: `count`, the newest still starting (90 s start-up). */
function membersOf(count: number, now: number, startedAt: number[]): Member[] {
  while (startedAt.length < count) startedAt.push(now);
  startedAt.length = count;
  return startedAt.map((at, i) => ({ id: `m${i}-${at}`, state: 'running', startedAt: at, ready: now - at >= 90_000 }));
}

const n = 200_000;
for (const [name, config] of Object.entries(configs)) {
  let state = initialPolicyState();
  let current = 1;
  let now = Date.UTC(2026, 0, 1);
  const startedAt: number[] = [];
  const withMembers = config.forecast !== undefined;
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    // A bursty queue: a daily-ish wave plus spikes.
    const metric = Math.max(0, Math.round(60 + 50 * Math.sin(i / 500) + (i % 97 === 0 ? 200 : 0)));
    // `include` (running work) is read by the jobs strategy only: what runs is at most the members.
    const members = withMembers ? membersOf(current, now, startedAt) : undefined;
    const result = evaluatePolicy(config, state, { metric, current, include: Math.min(metric, current), members }, now);
    state = result.state;
    if (result.desired !== null) current = result.desired;
    now += 15_000;
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `${name}: ${Math.round(n / seconds).toLocaleString('en')} evaluations/s (${n} in ${seconds.toFixed(2)} s)`,
  );
}
