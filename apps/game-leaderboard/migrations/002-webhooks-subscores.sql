-- game-leaderboard: subscores (compared after the score, before the arrival) and webhooks of
-- finished periods.

-- 0 on boards without a subscore.
ALTER TABLE lb_scores ADD COLUMN subscore bigint NOT NULL DEFAULT 0;
ALTER TABLE lb_period_entries ADD COLUMN subscore bigint;

-- One delivery per archived period of a board with a webhook, inserted by the transaction
-- that archives the period (so exactly once). Replicas lease a due row (`lease_until`), POST
-- it with `idempotency_key`, and mark it delivered on a 2xx; a failure or a lease that ran out
-- (the replica died mid-delivery) makes it due again after a backoff. Times are PostgreSQL's.
CREATE TABLE lb_webhooks (
  board text NOT NULL,
  period text NOT NULL,
  url text NOT NULL,
  idempotency_key uuid NOT NULL DEFAULT gen_random_uuid(),
  payload jsonb NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  lease_until timestamptz,
  leased_by text,
  delivered_at timestamptz,
  last_status integer,
  last_error text,
  PRIMARY KEY (board, period)
);
CREATE INDEX lb_webhooks_due ON lb_webhooks (next_attempt_at) WHERE delivered_at IS NULL;
