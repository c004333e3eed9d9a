-- The first schema of Spillway's state, as state/sqlite's 0001_init.sql in
-- PostgreSQL's dialect. Times are UTC Unix nanoseconds, 0 meaning unset;
-- string lists are JSON arrays.

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
	created_at   BIGINT  NOT NULL,
	updated_at   BIGINT  NOT NULL
);
CREATE INDEX intents_by_created ON intents (created_at, id);
CREATE INDEX intents_by_status ON intents (status, created_at);

CREATE TABLE instances (
	provider         TEXT             NOT NULL,
	id               TEXT             NOT NULL,
	pool             TEXT             NOT NULL,
	offering         TEXT             NOT NULL,
	intent_id        TEXT             NOT NULL,
	floor            TEXT             NOT NULL,
	zone             TEXT             NOT NULL,
	instance_type    TEXT             NOT NULL,
	market           TEXT             NOT NULL,
	private_ip       TEXT             NOT NULL,
	state            TEXT             NOT NULL,
	gpus             INTEGER          NOT NULL,
	price_per_hour   DOUBLE PRECISION NOT NULL,
	billing          TEXT             NOT NULL,
	launched_at      BIGINT           NOT NULL,
	joined_at        BIGINT           NOT NULL,
	busy_gpus        INTEGER          NOT NULL,
	idle_since       BIGINT           NOT NULL,
	drain_started_at BIGINT           NOT NULL,
	drain_hook_at    BIGINT           NOT NULL,
	ended_at         BIGINT           NOT NULL,
	end_reason       TEXT             NOT NULL,
	updated_at       BIGINT           NOT NULL,
	PRIMARY KEY (provider, id)
);
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
	start      BIGINT  NOT NULL,
	until      BIGINT  NOT NULL,
	created_at BIGINT  NOT NULL,
	ended_at   BIGINT  NOT NULL,
	end_reason TEXT    NOT NULL
);
CREATE INDEX floors_by_start ON floors (start, id);
CREATE INDEX floors_by_pool ON floors (pool, start);

-- Identity columns draw from sequences, which never hand out a number
-- twice: decision and audit IDs are never reused.
CREATE TABLE decisions (
	id      BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	pool    TEXT    NOT NULL,
	time    BIGINT  NOT NULL,
	dry_run BOOLEAN NOT NULL,
	summary TEXT    NOT NULL,
	plan    BYTEA   NOT NULL
);
CREATE INDEX decisions_by_pool ON decisions (pool, id);

CREATE TABLE spend (
	pool         TEXT             NOT NULL,
	period_start BIGINT           NOT NULL,
	provider     TEXT             NOT NULL,
	instance_id  TEXT             NOT NULL,
	amount       DOUBLE PRECISION NOT NULL,
	at           BIGINT           NOT NULL,
	PRIMARY KEY (pool, period_start, provider, instance_id)
);

CREATE TABLE audit (
	id        BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	time      BIGINT  NOT NULL,
	principal TEXT    NOT NULL,
	role      TEXT    NOT NULL,
	source    TEXT    NOT NULL,
	action    TEXT    NOT NULL,
	request   TEXT    NOT NULL,
	outcome   TEXT    NOT NULL,
	status    INTEGER NOT NULL
);
CREATE INDEX audit_by_time ON audit (time);
