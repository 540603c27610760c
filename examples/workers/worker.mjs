// A stand-in for a CI agent or queue worker: "works" on a job every 2 seconds, and on
// SIGTERM finishes its current job before exiting, as a well-behaved agent does.
const slot = process.env.WAYMOND_INDEX ?? '?';
const scaler = process.env.WAYMOND_SCALER ?? 'standalone';
let job = 0;
let stopping = false;

console.log(`[${scaler} #${slot}] started (pid ${process.pid})`);
const timer = setInterval(() => {
  job += 1;
  console.log(`[${scaler} #${slot}] finished job ${job}`);
  if (stopping) {
    clearInterval(timer);
    console.log(`[${scaler} #${slot}] stopped after finishing its job`);
    process.exit(0);
  }
}, 2000);

process.on('SIGTERM', () => {
  stopping = true;
  console.log(`[${scaler} #${slot}] SIGTERM: finishing the current job, then exiting`);
});
