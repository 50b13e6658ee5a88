/* global jest */
// Every test gets one more attempt, and the first attempt's error is printed ("RETRY 1"), so a
// timing flake on a loaded 2-core machine (a failover that took a second longer, a 503 where the
// machine stalled past a bound) is visible in the log and counted by .ci/run, not hidden, while
// a real regression still fails: it fails both attempts.
jest.retryTimes(Number(process.env.JEST_RETRIES ?? 1), { logErrorsBeforeRetry: true });
