// Generates ci-jobs.csv: a made-up but CI-shaped day (8 working hours) of job arrivals.
// Pushes arrive in bursts (a push starts 1-6 jobs: lint, unit, integration shards...),
// more often mid-morning and mid-afternoon; jobs run 1-20 minutes, most 3-8.
// Deterministic (fixed seed): `node examples/traces/generate-ci-jobs.mjs > examples/traces/ci-jobs.csv`.
let seed = 20260101;
const random = () => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
};
const HOURS = 8;
const rows = ['time,duration'];
for (let t = 0; t < HOURS * 3600; ) {
  const hour = t / 3600;
  // Pushes per hour: a morning and an afternoon peak, quiet at lunch.
  const perHour = 6 + 14 * Math.exp(-((hour - 1.5) ** 2)) + 16 * Math.exp(-((hour - 5.5) ** 2) / 1.5);
  t += Math.round((-Math.log(1 - random()) * 3600) / perHour);
  if (t >= HOURS * 3600) break;
  const jobs = 1 + Math.floor(random() * 6);
  for (let j = 0; j < jobs; j++) {
    const minutes = Math.min(20, Math.max(1, 3 + -Math.log(1 - random()) * 3));
    rows.push(`${t + j},${Math.round(minutes * 60)}`);
  }
}
process.stdout.write(`${rows.join('\n')}\n`);
