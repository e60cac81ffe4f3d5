ALTER TABLE "devices" ADD COLUMN "node_id" text;--> statement-breakpoint
ALTER TABLE "nodes" ADD COLUMN "left_at" bigint;--> statement-breakpoint
CREATE INDEX "devices_node_idx" ON "devices" USING btree ("node_id") WHERE node_id is not null;