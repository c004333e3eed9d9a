-- Decisions by time, in each pool and over all pools: a listing with a
-- since (GET /v1/decisions?since=1h) reads the rows of its window, not
-- every row of the pool back to the first, and pruning finds old rows
-- without a scan. The planner also reads the newest time from
-- decisions_by_time, so its estimate of a recent window stays right
-- between two ANALYZEs.
CREATE INDEX decisions_by_pool_time ON decisions (pool, time, id);
CREATE INDEX decisions_by_time ON decisions (time);
