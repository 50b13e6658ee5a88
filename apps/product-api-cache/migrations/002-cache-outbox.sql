-- Invalidation fed by the database itself: every committed statement that changes cached
-- rows, whoever ran it (the API, psql, a batch import, another service), leaves a row here
-- naming the cache groups it changed. One replica per cache reads the rows in id order under a
-- lease and evicts the groups everywhere (outbox-invalidator.ts).
CREATE TABLE cache_outbox (
  id bigserial PRIMARY KEY,
  -- The groups to evict ('p-<id>', 'c-<category>'); NULL: everything (a TRUNCATE).
  groups text[],
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- One cursor per cache (REDIS_KEY_PREFIX): the id of the last row whose eviction every replica
-- confirmed. Kept in PostgreSQL, so a restarted replica or a new leader goes on from there.
CREATE TABLE cache_outbox_cursor (
  cache text PRIMARY KEY,
  last_id bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Every id at or below pruned_through may be gone from the outbox. A cursor below it cannot
-- replay what it missed, so its cache is dropped whole (the gap rule).
CREATE TABLE cache_outbox_state (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  pruned_through bigint NOT NULL
);
INSERT INTO cache_outbox_state (pruned_through) VALUES (0);

-- Invariant: ids become visible in id order. Each writing transaction takes this lock when it
-- inserts its rows, at commit (the staged rows move here in a deferred trigger), and keeps it
-- until its commit is visible, so a reader that sees id n sees every committed id below n: a
-- cursor never skips a row that commits late. Proof: sql-invalidation.test.ts "ids become
-- visible in id order".
CREATE FUNCTION cache_outbox_record(groups text[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(7311002);
  INSERT INTO cache_outbox (groups) VALUES (groups);
  PERFORM pg_notify('cache_outbox', '');
END;
$$;

-- One row per statement, not per changed row: a batch import of 10,000 rows costs one outbox
-- row (and one trip through the ordering lock), not 10,000. The statement triggers stage the
-- groups; a deferred constraint trigger on the stage moves them to the outbox at commit.
CREATE TABLE cache_outbox_staged (
  id bigserial PRIMARY KEY,
  groups text[]
);

CREATE FUNCTION cache_outbox_stage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO cache_outbox_staged (groups)
    SELECT array_agg(DISTINCT g) FROM (
      SELECT 'p-' || id AS g FROM new_rows UNION SELECT 'c-' || category FROM new_rows) x
    HAVING count(*) > 0;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO cache_outbox_staged (groups)
    SELECT array_agg(DISTINCT g) FROM (
      SELECT 'p-' || id AS g FROM old_rows UNION SELECT 'c-' || category FROM old_rows) x
    HAVING count(*) > 0;
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO cache_outbox_staged (groups)
    SELECT array_agg(DISTINCT g) FROM (
      SELECT 'p-' || id AS g FROM new_rows UNION SELECT 'c-' || category FROM new_rows
      UNION SELECT 'p-' || id FROM old_rows UNION SELECT 'c-' || category FROM old_rows) x
    HAVING count(*) > 0;
  ELSE
    -- TRUNCATE: everything.
    INSERT INTO cache_outbox_staged (groups) VALUES (NULL);
  END IF;
  RETURN NULL;
END;
$$;

CREATE TRIGGER products_cache_outbox_insert AFTER INSERT ON products
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION cache_outbox_stage();
CREATE TRIGGER products_cache_outbox_update AFTER UPDATE ON products
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION cache_outbox_stage();
CREATE TRIGGER products_cache_outbox_delete AFTER DELETE ON products
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION cache_outbox_stage();
CREATE TRIGGER products_cache_outbox_truncate AFTER TRUNCATE ON products
  FOR EACH STATEMENT EXECUTE FUNCTION cache_outbox_stage();

CREATE FUNCTION cache_outbox_commit_staged() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM cache_outbox_record(NEW.groups);
  DELETE FROM cache_outbox_staged WHERE id = NEW.id;
  RETURN NULL;
END;
$$;

-- A constraint trigger runs at commit, so the ordering lock is held only while committing.
CREATE CONSTRAINT TRIGGER cache_outbox_staged_commit
  AFTER INSERT ON cache_outbox_staged
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION cache_outbox_commit_staged();

-- However rows leave the outbox (the leader's pruning, an operator's DELETE or TRUNCATE), the
-- watermark says so: a cursor behind it knows it has a gap.
CREATE FUNCTION cache_outbox_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE cache_outbox_state
     SET pruned_through = GREATEST(pruned_through, (SELECT COALESCE(max(id), 0) FROM gone));
  RETURN NULL;
END;
$$;

CREATE TRIGGER cache_outbox_pruned
  AFTER DELETE ON cache_outbox
  REFERENCING OLD TABLE AS gone
  FOR EACH STATEMENT EXECUTE FUNCTION cache_outbox_deleted();

CREATE FUNCTION cache_outbox_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE cache_outbox_state
     SET pruned_through = GREATEST(pruned_through, (SELECT COALESCE(max(id), 0) FROM cache_outbox));
  RETURN NULL;
END;
$$;

CREATE TRIGGER cache_outbox_truncate
  BEFORE TRUNCATE ON cache_outbox
  FOR EACH STATEMENT EXECUTE FUNCTION cache_outbox_truncated();
