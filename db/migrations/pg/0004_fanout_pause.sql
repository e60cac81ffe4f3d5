ALTER TABLE "fanouts" ADD COLUMN "paused_at" bigint;--> statement-breakpoint
ALTER TABLE "fanouts" ADD COLUMN "pause_reason" text;