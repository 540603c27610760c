// Generates ci-week.csv: a made-up but CI-shaped week of job arrivals, for policies that learn
// a daily and weekly pattern (strategy = "jobs" with a `forecast`). Times are seconds from
// the trace's start, which the simulator places at 2026-01-01 00:00 UTC, a Thursday: the
// week runs Thursday to Wednesday. Working days: the working hours of ci-jobs.csv (pushes
// of 1-6 jobs, a morning and an afternoon peak) from 08:00 to 16:00 UTC; a nightly build of
// 8 jobs at 02:00 every day; weekends: a push every hour or two between 10:00 and 18:00.
// Jobs run 1-20 minutes, most 3-8. Each day has its own random draws (one fixed seed for
// the week): the same shape, never the same jobs.
// Deterministic: `node examples/traces/generate-ci-week.mjs > examples/traces/ci-week.csv`.
let seed = 20260105;
const random = () => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
};
const DAY = 86_400;
const duration = () => Math.round(Math.min(20, Math.max(1, 3 + -Math.log(1 - random()) * 3)) * 60);
const rows = [];
const push = (t, jobs) => {
  for (let j = 0; j < jobs; j++) rows.push([t + j, duration()]);
};
/** Pushes from `from` to `to` (seconds of the day) at `perHour(hour since from)` an hour. */
const pushes = (dayStart, from, to, perHour) => {
  for (let t = from; t < to; ) {
    t += Math.round((-Math.log(1 - random()) * 3600) / perHour((t - from) / 3600));
    if (t >= to) break;
    push(dayStart + t, 1 + Math.floor(random() * 6));
  }
};
for (let day = 0; day < 7; day++) {
  const dayStart = day * DAY;
  const weekday = (4 + day) % 7; // 0 Sunday … 6 Saturday; day 0 is a Thursday
  for (let j = 0; j < 8; j++) rows.push([dayStart + 2 * 3600 + j, Math.round((10 + random() * 10) * 60)]);
  if (weekday === 0 || weekday === 6) pushes(dayStart, 10 * 3600, 18 * 3600, () => 0.7);
  else
    pushes(
      dayStart,
      8 * 3600,
      16 * 3600,
      (hour) => 6 + 14 * Math.exp(-((hour - 1.5) ** 2)) + 16 * Math.exp(-((hour - 5.5) ** 2) / 1.5),
    );
}
rows.sort((a, b) => a[0] - b[0]);
process.stdout.write(`time,duration\n${rows.map((r) => r.join(',')).join('\n')}\n`);
