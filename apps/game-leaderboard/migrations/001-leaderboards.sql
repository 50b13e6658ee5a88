-- game-leaderboard: PostgreSQL is the source of truth for scores; Redis holds the rank index,
-- which is rebuilt from these tables when its keys are missing.

-- One row per board that was ever written or configured. `config` is NULL for an implicit
-- board (desc, best, all-time/daily/weekly/monthly views). `epoch` grows on every (re)build of
-- the board's Redis index, so a write made under an older index loses to any newer one.
CREATE TABLE lb_boards (
  board text PRIMARY KEY,
  config jsonb,
  epoch bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- The state of each player on each period of each board, as the last acknowledged write left
-- it. (epoch, version) orders writes; `arrival` is the board counter at which the score was
-- reached (ties rank the smaller arrival first). A delete leaves a tombstone (`deleted`).
CREATE TABLE lb_scores (
  board text NOT NULL,
  period text NOT NULL,
  player text NOT NULL,
  score bigint NOT NULL,
  arrival bigint NOT NULL,
  epoch bigint NOT NULL,
  version bigint NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  expires_at timestamptz,
  PRIMARY KEY (board, period, player)
);
CREATE INDEX lb_scores_expires_at ON lb_scores (expires_at) WHERE expires_at IS NOT NULL;

-- Display names, shared by every board.
CREATE TABLE lb_names (
  player text PRIMARY KEY,
  name text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Periods of reset boards, registered by the first score in them. `archived_at` is set exactly
-- once, by whichever replica archives the period first.
CREATE TABLE lb_periods (
  board text NOT NULL,
  period text NOT NULL,
  starts_at timestamptz NOT NULL,
  ends_at timestamptz NOT NULL,
  archived_at timestamptz,
  archived_by text,
  entries integer,
  PRIMARY KEY (board, period)
);
CREATE INDEX lb_periods_due ON lb_periods (ends_at) WHERE archived_at IS NULL;

-- Final standings of archived periods.
CREATE TABLE lb_period_entries (
  board text NOT NULL,
  period text NOT NULL,
  rank integer NOT NULL,
  player text NOT NULL,
  name text,
  score bigint NOT NULL,
  PRIMARY KEY (board, period, rank)
);
