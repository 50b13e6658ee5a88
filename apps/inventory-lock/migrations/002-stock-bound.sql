-- Stock never exceeds 10^9 (issue 20): the service refuses any write that would pass it, this is
-- the last line. NOT VALID: rows written before the bound existed are not rechecked, so a
-- database that already holds one still boots; every new write is checked.
ALTER TABLE inventory ADD CONSTRAINT inventory_stock_max CHECK (stock <= 1000000000) NOT VALID;
