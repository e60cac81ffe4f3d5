ALTER TABLE "fanouts" ADD COLUMN "rollout" jsonb;--> statement-breakpoint
ALTER TABLE "fanouts" ADD COLUMN "ttl_seconds" integer;--> statement-breakpoint
ALTER TABLE "fanouts" ADD COLUMN "wave" integer;--> statement-breakpoint
ALTER TABLE "fanouts" ADD COLUMN "waves" integer;--> statement-breakpoint
ALTER TABLE "fanouts" ADD COLUMN "wave_opened_at" bigint;--> statement-breakpoint
ALTER TABLE "fanouts" ADD COLUMN "wave_finished_at" bigint;--> statement-breakpoint
ALTER TABLE "fanouts" ADD COLUMN "breaker_finished_base" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "fanouts" ADD COLUMN "breaker_failed_base" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "wave" integer;--> statement-breakpoint
CREATE INDEX "fanouts_rollout_open_idx" ON "fanouts" USING btree ("id") WHERE rollout is not null and open_tasks > 0;--> statement-breakpoint
CREATE INDEX "tasks_fanout_wave_idx" ON "tasks" USING btree ("fanout_id","wave","status","id") WHERE wave is not null;