-- Idle spells of burst instances as scale_in.idle auto learns them (package
-- idlegap), kept so that a restarted server does not forget them. gap is in
-- nanoseconds, -1 for a released spell that no launch followed.
CREATE TABLE idle_gaps (
	id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	pool          TEXT   NOT NULL,
	provider      TEXT   NOT NULL,
	region        TEXT   NOT NULL,
	zone          TEXT   NOT NULL,
	instance_type TEXT   NOT NULL,
	market        TEXT   NOT NULL,
	at            BIGINT NOT NULL,
	gap           BIGINT NOT NULL
);
CREATE INDEX idle_gaps_by_offering ON idle_gaps (pool, provider, region, zone, instance_type, market, at);
CREATE INDEX idle_gaps_by_time ON idle_gaps (at);
