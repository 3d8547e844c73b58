-- 0003 (PostgreSQL): the process id of each attempt's plugin (see SQLite's 0003).
ALTER TABLE attempts ADD COLUMN pid INTEGER;
