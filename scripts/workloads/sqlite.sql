-- A scripted sqlite3 workload: inserts, an index, grouped queries, updates.
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, payload TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
INSERT INTO t SELECT i, 'name-' || i, i % 97, hex(randomblob(32)) FROM n;
CREATE INDEX t_grp ON t(grp, name);
SELECT grp, count(*), max(length(payload)) FROM t GROUP BY grp ORDER BY 2 DESC LIMIT 3;
UPDATE t SET payload = upper(payload) WHERE id % 3 = 0;
SELECT count(DISTINCT name) FROM t WHERE name LIKE 'name-1%';
