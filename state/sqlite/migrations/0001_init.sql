-- The first schema of Spillway's state. Times are UTC Unix nanoseconds,
-- 0 meaning unset; string lists are JSON arrays.

CREATE TABLE intents (
	id           TEXT    NOT NULL PRIMARY KEY,
	pool         TEXT    NOT NULL,
	provider     TEXT    NOT NULL,
	offering     TEXT    NOT NULL,
	count        INTEGER NOT NULL,
	floor        TEXT    NOT NULL,
	reason       TEXT    NOT NULL,
	client_token TEXT    NOT NULL,
	status       TEXT    NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
	error        TEXT    NOT NULL,
	instance_ids TEXT    NOT NULL,
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX intents_by_created ON intents (created_at, id);
CREATE INDEX intents_by_status ON intents (status, created_at);

CREATE TABLE instances (
	provider         TEXT    NOT NULL,
	id               TEXT    NOT NULL,
	pool             TEXT    NOT NULL,
	offering         TEXT    NOT NULL,
	intent_id        TEXT    NOT NULL,
	floor            TEXT    NOT NULL,
	zone             TEXT    NOT NULL,
	instance_type    TEXT    NOT NULL,
	market           TEXT    NOT NULL,
	private_ip       TEXT    NOT NULL,
	state            TEXT    NOT NULL,
	gpus             INTEGER NOT NULL,
	price_per_hour   REAL    NOT NULL,
	billing          TEXT    NOT NULL,
	launched_at      INTEGER NOT NULL,
	joined_at        INTEGER NOT NULL,
	busy_gpus        INTEGER NOT NULL,
	idle_since       INTEGER NOT NULL,
	drain_started_at INTEGER NOT NULL,
	drain_hook_at    INTEGER NOT NULL,
	ended_at         INTEGER NOT NULL,
	end_reason       TEXT    NOT NULL,
	updated_at       INTEGER NOT NULL,
	PRIMARY KEY (provider, id)
) STRICT;
CREATE INDEX instances_by_launch ON instances (launched_at, provider, id);
CREATE INDEX instances_by_pool ON instances (pool, launched_at);

CREATE TABLE floors (
	id         TEXT    NOT NULL PRIMARY KEY,
	pool       TEXT    NOT NULL,
	kind       TEXT    NOT NULL,
	owner      TEXT    NOT NULL,
	reason     TEXT    NOT NULL,
	gpus       INTEGER NOT NULL,
	offering   TEXT    NOT NULL,
	start      INTEGER NOT NULL,
	until      INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	ended_at   INTEGER NOT NULL,
	end_reason TEXT    NOT NULL
) STRICT;
CREATE INDEX floors_by_start ON floors (start, id);
CREATE INDEX floors_by_pool ON floors (pool, start);

-- AUTOINCREMENT: decision and audit IDs are never reused, even after the
-- newest rows are deleted.
CREATE TABLE decisions (
	id      INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	pool    TEXT    NOT NULL,
	time    INTEGER NOT NULL,
	dry_run INTEGER NOT NULL,
	summary TEXT    NOT NULL,
	plan    BLOB    NOT NULL
) STRICT;
CREATE INDEX decisions_by_pool ON decisions (pool, id);

CREATE TABLE spend (
	pool         TEXT    NOT NULL,
	period_start INTEGER NOT NULL,
	provider     TEXT    NOT NULL,
	instance_id  TEXT    NOT NULL,
	amount       REAL    NOT NULL,
	at           INTEGER NOT NULL,
	PRIMARY KEY (pool, period_start, provider, instance_id)
) STRICT;

CREATE TABLE audit (
	id        INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	time      INTEGER NOT NULL,
	principal TEXT    NOT NULL,
	role      TEXT    NOT NULL,
	source    TEXT    NOT NULL,
	action    TEXT    NOT NULL,
	request   TEXT    NOT NULL,
	outcome   TEXT    NOT NULL,
	status    INTEGER NOT NULL
) STRICT;
CREATE INDEX audit_by_time ON audit (time);
