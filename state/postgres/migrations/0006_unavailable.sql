-- What the leader holds out of every pool's launches after a launch
-- failed (state.Unavailable): offerings out of stock or whose launch
-- delivered nothing, regions after a quota error, providers backing off or
-- refusing requests as invalid; kept so that a restarted server or the
-- next leader keeps skipping them and followers show them. Fields a kind
-- does not use are empty. at and until are in Unix nanoseconds.
CREATE TABLE unavailable (
	kind          TEXT    NOT NULL,
	provider      TEXT    NOT NULL,
	region        TEXT    NOT NULL,
	zone          TEXT    NOT NULL,
	instance_type TEXT    NOT NULL,
	market        TEXT    NOT NULL,
	why           TEXT    NOT NULL,
	at            BIGINT  NOT NULL,
	until         BIGINT  NOT NULL,
	PRIMARY KEY (kind, provider, region, zone, instance_type, market)
);
CREATE INDEX unavailable_by_until ON unavailable (until);
