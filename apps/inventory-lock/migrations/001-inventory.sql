-- Stock per sku, and the fencing token of the last lock holder that claimed the row. A holder
-- may write only while the row still carries its own token, so a holder whose lease ran out
-- (paused, slow) can never overwrite what a later holder did.
CREATE TABLE inventory (
  sku text PRIMARY KEY,
  stock bigint NOT NULL CHECK (stock >= 0),
  fence bigint NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per orderId, whichever replica served it: the primary key is what makes a repeated
-- (or concurrently repeated) reservation return the first outcome instead of decrementing twice.
CREATE TABLE reservations (
  order_id text PRIMARY KEY,
  sku text NOT NULL REFERENCES inventory (sku),
  quantity integer NOT NULL CHECK (quantity > 0),
  remaining bigint NOT NULL,
  fence bigint NOT NULL,
  status text NOT NULL DEFAULT 'reserved' CHECK (status IN ('reserved', 'released')),
  created_at timestamptz NOT NULL DEFAULT now(),
  released_at timestamptz
);

CREATE INDEX reservations_sku ON reservations (sku);
