// graphile-worker's drain beside bench_jobs.py's end to end: JOBS no-op jobs added in batches of
// 1,000 (addJobs), then a runner with 8 concurrent workers and the batched preset (a local queue
// of 500, completions and failures batched) runs them; prints one JSON document.
// Run: npm install && DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_graphile JOBS=50000 node run.mjs
import { Logger, makeWorkerUtils, run } from "graphile-worker";

// Quiet: its default logger writes a line per job, which would be most of what it measures.
const logger = new Logger(() => () => {});

const connectionString = process.env.DATABASE_URL;
const jobs = Number(process.env.JOBS ?? "50000");
const utils = await makeWorkerUtils({ connectionString, logger });
await utils.migrate();
const batch = Array.from({ length: 1000 }, (_, n) => ({ identifier: "noop", payload: { n } }));
let started = performance.now();
for (let added = 0; added < jobs; added += batch.length) {
  await utils.addJobs(batch);
}
const enqueueSeconds = (performance.now() - started) / 1000;
let done = 0;
let finished;
const allDone = new Promise((resolve) => (finished = resolve));
started = performance.now();
const runner = await run({
  connectionString,
  logger,
  concurrency: 8,
  noHandleSignals: true,
  pollInterval: 200,
  preset: { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
  taskList: { noop: async () => {} },
});
runner.events.on("job:success", () => {
  done += 1;
  if (done === jobs) finished();
});
await allDone;
const drainSeconds = (performance.now() - started) / 1000;
await runner.stop();
await utils.release();
console.log(
  JSON.stringify({
    peer: "graphile-worker 0.18.0 (localQueue 500, batched completions)",
    jobs,
    batch_enqueue_jobs_per_s: Math.round((jobs / enqueueSeconds) * 10) / 10,
    drain_through_worker_jobs_per_s: Math.round((jobs / drainSeconds) * 10) / 10,
    concurrency: 8,
  }),
);
