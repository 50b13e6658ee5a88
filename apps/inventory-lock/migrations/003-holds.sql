-- Holds (issue 20): one order of one or more lines, held for a TTL, then confirmed, cancelled or
-- expired exactly once. The database is the source of truth: expiry is a conditional UPDATE of
-- the hold row under the sku rows' locks, so whichever replica sees it first returns the stock,
-- and a replica that starts after every replica was down across the expiry finds it here.
CREATE TABLE holds (
  order_id text PRIMARY KEY,
  status text NOT NULL CHECK (status IN ('held', 'confirmed', 'cancelled', 'expired')),
  -- The lines in one canonical form (sorted by sku): a repeat with other lines is a 409.
  lines_key text NOT NULL,
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL,
  settled_at timestamptz
);
CREATE INDEX holds_due ON holds (expires_at) WHERE status = 'held';

CREATE TABLE hold_lines (
  order_id text NOT NULL REFERENCES holds (order_id),
  -- Position in the request, so answers list the lines as the client sent them.
  line integer NOT NULL,
  sku text NOT NULL REFERENCES inventory (sku),
  quantity integer NOT NULL CHECK (quantity > 0),
  -- The sku's fencing token the hold was written under.
  fence bigint NOT NULL,
  PRIMARY KEY (order_id, sku)
);
CREATE INDEX hold_lines_sku ON hold_lines (sku);

-- Every change of a sku's units, in the transaction that made it: the history the checkers read.
-- Writers hold the sku row's lock while they append, so per sku the id order is the commit order.
-- total = stock + held + confirmed changes only by restock.
CREATE TABLE inventory_events (
  id bigserial PRIMARY KEY,
  sku text NOT NULL,
  order_id text,
  kind text NOT NULL
    CHECK (kind IN ('restock', 'reserve', 'release', 'hold', 'confirm', 'cancel', 'expire')),
  stock_delta bigint NOT NULL,
  held_delta bigint NOT NULL,
  confirmed_delta bigint NOT NULL,
  -- The fencing token the write was checked against (null: no lock needed or lock-free strategy).
  fence bigint,
  at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inventory_events_sku ON inventory_events (sku, id);
