-- Offerings held out of a pool's launches because the queue left their
-- instances unused (policy.Plan.Unused), kept so that a restarted server or
-- the next leader keeps them. at and until are in Unix nanoseconds.
CREATE TABLE holds (
	pool          TEXT    NOT NULL,
	provider      TEXT    NOT NULL,
	region        TEXT    NOT NULL,
	zone          TEXT    NOT NULL,
	instance_type TEXT    NOT NULL,
	market        TEXT    NOT NULL,
	at            BIGINT  NOT NULL,
	until         BIGINT  NOT NULL,
	reason        TEXT    NOT NULL,
	PRIMARY KEY (pool, provider, region, zone, instance_type, market)
);
CREATE INDEX holds_by_until ON holds (until);
