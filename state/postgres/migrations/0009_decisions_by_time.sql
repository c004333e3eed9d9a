-- spillway: no transaction
-- Decisions by time, in each pool and over all pools: a listing with a
-- since (GET /v1/decisions?since=1h) reads the rows of its window, not
-- every row of the pool back to the first, and pruning finds old rows
-- without a scan. The planner also reads the newest time from
-- decisions_by_time, so its estimate of a recent window stays right
-- between two ANALYZEs.
--
-- Built CONCURRENTLY, outside a transaction: a plain CREATE INDEX holds off
-- every decision write (this server's, and the other's of an HA pair) for
-- the whole build, 17 s on 3 million rows. An index of the same name
-- found here was left by a build that crashed (INVALID, or built but not
-- recorded): it is dropped and built again.
DROP INDEX CONCURRENTLY IF EXISTS decisions_by_pool_time;
CREATE INDEX CONCURRENTLY decisions_by_pool_time ON decisions (pool, time, id);
DROP INDEX CONCURRENTLY IF EXISTS decisions_by_time;
CREATE INDEX CONCURRENTLY decisions_by_time ON decisions (time);
