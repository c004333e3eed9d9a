-- When the sweeper first listed each stranger (an instance of the cluster
-- no row or intent claims) whose launch time the cloud does not give, or
-- gives ahead of the server's clock: its sweep grace runs from then. Kept,
-- so that a server restarting more often than the grace (a crash loop),
-- or the next leader, still sweeps it. at is in Unix nanoseconds.
CREATE TABLE sightings (
	provider TEXT    NOT NULL,
	id       TEXT    NOT NULL,
	at       INTEGER NOT NULL,
	PRIMARY KEY (provider, id)
) STRICT;
