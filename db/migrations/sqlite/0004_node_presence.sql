ALTER TABLE `devices` ADD `node_id` text;--> statement-breakpoint
CREATE INDEX `devices_node_idx` ON `devices` (`node_id`) WHERE node_id is not null;--> statement-breakpoint
ALTER TABLE `nodes` ADD `left_at` integer;