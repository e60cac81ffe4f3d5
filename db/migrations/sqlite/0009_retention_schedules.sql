CREATE TABLE `purge_permits` (
	`holder` text PRIMARY KEY NOT NULL
);
--> statement-breakpoint
CREATE TABLE `schedule_runs` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`schedule_id` integer NOT NULL,
	`due_at` integer NOT NULL,
	`ran_at` integer NOT NULL,
	`outcome` text NOT NULL,
	`reason` text,
	`fanout_id` integer,
	FOREIGN KEY (`schedule_id`) REFERENCES `schedules`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`fanout_id`) REFERENCES `fanouts`(`id`) ON UPDATE no action ON DELETE set null,
	CONSTRAINT "schedule_runs_outcome_check" CHECK(outcome in ('issued', 'skipped', 'failed'))
);
--> statement-breakpoint
CREATE UNIQUE INDEX `schedule_runs_due_uidx` ON `schedule_runs` (`schedule_id`,`due_at`);--> statement-breakpoint
CREATE INDEX `schedule_runs_fanout_idx` ON `schedule_runs` (`fanout_id`) WHERE fanout_id is not null;--> statement-breakpoint
CREATE TABLE `schedules` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`organization_id` text NOT NULL,
	`name` text NOT NULL,
	`type` text NOT NULL,
	`spec` text NOT NULL,
	`cron` text NOT NULL,
	`timezone` text NOT NULL,
	`catch_up` integer DEFAULT false NOT NULL,
	`enabled` integer DEFAULT true NOT NULL,
	`owner_id` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`next_run_at` integer,
	`last_run_at` integer,
	FOREIGN KEY (`organization_id`) REFERENCES `organization`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`owner_id`) REFERENCES `user`(`id`) ON UPDATE no action ON DELETE set null,
	CONSTRAINT "schedules_type_check" CHECK(type in ('SYNC', 'PULL', 'PUSH', 'BACKUP', 'RESTART', 'REBOOT', 'SHUTDOWN', 'PING', 'PLUGIN_INSTALL', 'FIRMWARE_UPGRADE'))
);
--> statement-breakpoint
CREATE UNIQUE INDEX `schedules_org_name_uidx` ON `schedules` (`organization_id`,`name`);--> statement-breakpoint
CREATE INDEX `schedules_due_idx` ON `schedules` (`next_run_at`) WHERE enabled = 1 and next_run_at is not null;--> statement-breakpoint
ALTER TABLE `org_settings` ADD `task_retention_days` integer DEFAULT 180;--> statement-breakpoint
ALTER TABLE `org_settings` ADD `audit_retention_days` integer DEFAULT 730 NOT NULL;