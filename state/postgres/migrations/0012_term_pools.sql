-- The pools of the config each term's server ran, sorted (NULL: a term
-- taken by a binary that did not record them), so that a follower can say
-- which of its pools the leader's config lacks: no server evaluates them.
ALTER TABLE leader_terms ADD COLUMN pools TEXT[];
