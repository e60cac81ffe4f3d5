ALTER TABLE `fanouts` ADD `rollout` text;--> statement-breakpoint
ALTER TABLE `fanouts` ADD `ttl_seconds` integer;--> statement-breakpoint
ALTER TABLE `fanouts` ADD `wave` integer;--> statement-breakpoint
ALTER TABLE `fanouts` ADD `waves` integer;--> statement-breakpoint
ALTER TABLE `fanouts` ADD `wave_opened_at` integer;--> statement-breakpoint
ALTER TABLE `fanouts` ADD `wave_finished_at` integer;--> statement-breakpoint
ALTER TABLE `fanouts` ADD `breaker_finished_base` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `fanouts` ADD `breaker_failed_base` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX `fanouts_rollout_open_idx` ON `fanouts` (`id`) WHERE rollout is not null and open_tasks > 0;--> statement-breakpoint
ALTER TABLE `tasks` ADD `wave` integer;--> statement-breakpoint
CREATE INDEX `tasks_fanout_wave_idx` ON `tasks` (`fanout_id`,`wave`,`status`,`id`) WHERE wave is not null;