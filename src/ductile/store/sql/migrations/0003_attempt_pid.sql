-- 0003: the process id of each attempt's plugin (its process group and session id too), so crash
-- recovery can kill a plugin that outlived a gateway killed with -9 before running the job again.
ALTER TABLE attempts ADD COLUMN pid INTEGER;
