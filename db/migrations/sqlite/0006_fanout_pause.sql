ALTER TABLE `fanouts` ADD `paused_at` integer;--> statement-breakpoint
ALTER TABLE `fanouts` ADD `pause_reason` text;