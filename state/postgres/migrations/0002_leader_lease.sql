-- The leader lease of several servers sharing this database: one row per
-- lease name. epoch grows by one each time another term begins; expiry is
-- the database's clock, so servers' clocks need not agree.
CREATE TABLE leader_lease (
	name       TEXT        NOT NULL PRIMARY KEY,
	holder     TEXT        NOT NULL,
	epoch      BIGINT      NOT NULL,
	acquired   TIMESTAMPTZ NOT NULL,
	expires_at TIMESTAMPTZ NOT NULL
);

-- Every term, for operators and for the tests that prove terms never
-- overlap.
CREATE TABLE leader_terms (
	name     TEXT        NOT NULL,
	epoch    BIGINT      NOT NULL,
	holder   TEXT        NOT NULL,
	acquired TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (name, epoch)
);
