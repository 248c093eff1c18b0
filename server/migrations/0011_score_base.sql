-- What a score's reasons start from: the linear model's intercept or the forest's
-- expected score (its reasons are exact Tree SHAP values from now on). NULL for
-- scores stored before, whose forest reasons were importance × distance.
ALTER TABLE scores ADD COLUMN base REAL;
