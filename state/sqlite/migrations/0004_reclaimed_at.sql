-- When the cloud's spot reclaim notice to an instance was first seen, in
-- Unix nanoseconds (0: none), so that a restarted server or the next leader
-- learns each spot offering's reclaim rate from the notices seen before it.
ALTER TABLE instances ADD COLUMN reclaimed_at INTEGER NOT NULL DEFAULT 0;
