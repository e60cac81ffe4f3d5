-- Row numbers become bigint (db/schema/pg/columns.ts, rowId): PostgreSQL's integer runs out at
-- 2^31, 2.4 years of a 100,000-device fleet synced hourly. Each table is rewritten once, all
-- of its columns in one statement; the tasks table's rewrite takes time in proportion to its
-- rows, holding it meanwhile (docs/deploy.md, "Upgrading").
ALTER TABLE "ous" ALTER COLUMN "id" SET DATA TYPE bigint, ALTER COLUMN "id" SET MAXVALUE 9223372036854775807;--> statement-breakpoint
ALTER TABLE "device_ous" ALTER COLUMN "ou_id" SET DATA TYPE bigint;--> statement-breakpoint
ALTER TABLE "fanouts" ALTER COLUMN "id" SET DATA TYPE bigint, ALTER COLUMN "id" SET MAXVALUE 9223372036854775807, ALTER COLUMN "retry_of" SET DATA TYPE bigint;--> statement-breakpoint
ALTER TABLE "tasks" ALTER COLUMN "id" SET DATA TYPE bigint, ALTER COLUMN "id" SET MAXVALUE 9223372036854775807, ALTER COLUMN "fanout_id" SET DATA TYPE bigint;--> statement-breakpoint
ALTER TABLE "audit_events" ALTER COLUMN "id" SET DATA TYPE bigint, ALTER COLUMN "id" SET MAXVALUE 9223372036854775807;--> statement-breakpoint
ALTER TABLE "schedules" ALTER COLUMN "id" SET DATA TYPE bigint, ALTER COLUMN "id" SET MAXVALUE 9223372036854775807;--> statement-breakpoint
ALTER TABLE "schedule_runs" ALTER COLUMN "id" SET DATA TYPE bigint, ALTER COLUMN "id" SET MAXVALUE 9223372036854775807, ALTER COLUMN "schedule_id" SET DATA TYPE bigint, ALTER COLUMN "fanout_id" SET DATA TYPE bigint;
