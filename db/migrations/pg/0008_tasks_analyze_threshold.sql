-- The planner's view of tasks by status must follow the fan-outs. An agent's acknowledgement
-- or result names its task by code, and the plan probes the code index once per task only
-- while the statistics know how many tasks are PENDING or IN_PROGRESS. Stale, they say few
-- are, and the plan hashes every one of them, for every batch: its cost grows with the
-- backlog. By default autovacuum analyzes a table after 10% of its rows changed, which at ten
-- million tasks is a million changes, several large fan-outs. Here it is a fixed 10,000
-- changed rows (about 3,300 tasks issued, started and finished), whatever the table's size:
-- at most one ANALYZE per autovacuum_naptime (a minute by default), each reading a fixed
-- sample (about 0.6 s at a million tasks).
ALTER TABLE "tasks" SET (autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 10000);
