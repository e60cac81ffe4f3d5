ALTER TABLE `devices` ADD `last_seq` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `tasks` ADD `lease_expires_at` integer;--> statement-breakpoint
CREATE INDEX `tasks_lease_idx` ON `tasks` (`lease_expires_at`) WHERE status = 'IN_PROGRESS';--> statement-breakpoint
CREATE INDEX `tasks_device_pending_idx` ON `tasks` (`device_id`,`id`) WHERE status = 'PENDING';