ALTER TABLE "fanouts" ADD COLUMN "failed_tasks" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "fanouts" ADD COLUMN "expired_tasks" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "fanouts" ADD COLUMN "cancelled_tasks" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "fanouts" ADD COLUMN "retry_of" integer;--> statement-breakpoint
ALTER TABLE "fanouts" ADD CONSTRAINT "fanouts_retry_of_fanouts_id_fk" FOREIGN KEY ("retry_of") REFERENCES "public"."fanouts"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "fanouts_retry_of_idx" ON "fanouts" USING btree ("retry_of") WHERE retry_of is not null;--> statement-breakpoint
CREATE INDEX "tasks_fanout_duration_idx" ON "tasks" USING btree ("fanout_id",(finished_at - started_at)) WHERE (finished_at - started_at) is not null;--> statement-breakpoint
-- Existing fan-outs counted once here (as rules/sql.ts recountStatements does); from now on the triggers keep them.
UPDATE "fanouts" SET
  "failed_tasks" = (SELECT count(*) FROM "tasks" WHERE "tasks"."fanout_id" = "fanouts"."id" AND "tasks"."status" = 'FAILED'),
  "expired_tasks" = (SELECT count(*) FROM "tasks" WHERE "tasks"."fanout_id" = "fanouts"."id" AND "tasks"."status" = 'EXPIRED'),
  "cancelled_tasks" = (SELECT count(*) FROM "tasks" WHERE "tasks"."fanout_id" = "fanouts"."id" AND "tasks"."status" = 'CANCELLED');
