-- The newest cells whose short-term test result has arrived, for the active
-- model's live figures: read newest first, as many as the window holds.
CREATE INDEX cells_labelled ON cells (created_ms) WHERE short_term_failed IS NOT NULL;
