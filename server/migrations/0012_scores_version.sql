-- Which model each score came from, indexed: after a switch of the active model the
-- re-scoring job counts the cells already carrying the new model's score and finds
-- the others without reading the whole table.
CREATE INDEX scores_version ON scores (model_version);
