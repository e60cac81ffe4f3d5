-- A fan-out's cockpit, read the first time, on PostgreSQL. SQLite's indexes end in the rowid,
-- so (fanout_id, status) gave the first and last id of each status in one step; here that
-- min(id) walked the primary key from the oldest task (a million rows for a status the
-- fan-out has), and the FAILED tasks, read page by page in id order, were sorted each time.
-- The id is now the index's last column. The durations' expression index carries the two
-- columns it is computed from, without which PostgreSQL's planner reads every row from the
-- table instead of the index alone. At a million tasks the two indexes take a few seconds to
-- build, during which tasks are not written.
DROP INDEX "tasks_fanout_status_idx";--> statement-breakpoint
DROP INDEX "tasks_fanout_duration_idx";--> statement-breakpoint
CREATE INDEX "tasks_fanout_status_idx" ON "tasks" USING btree ("fanout_id","status","id");--> statement-breakpoint
CREATE INDEX "tasks_fanout_duration_idx" ON "tasks" USING btree ("fanout_id",(finished_at - started_at),"finished_at","started_at") WHERE (finished_at - started_at) is not null;