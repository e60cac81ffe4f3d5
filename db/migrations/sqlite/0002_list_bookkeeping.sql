CREATE TABLE `task_counts` (
	`organization_id` text NOT NULL,
	`type` text NOT NULL,
	`status` text NOT NULL,
	`n` integer NOT NULL,
	PRIMARY KEY(`organization_id`, `type`, `status`),
	FOREIGN KEY (`organization_id`) REFERENCES `organization`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
ALTER TABLE `fanouts` ADD `open_tasks` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `fanouts` ADD `finished_at` integer;--> statement-breakpoint
-- Existing tasks, counted once here (as db/triggers.ts recountStatements does); from now on
-- issuing and the triggers keep both.
INSERT INTO `task_counts` (`organization_id`, `type`, `status`, `n`)
  SELECT `organization_id`, `type`, `status`, count(*) FROM `tasks` GROUP BY `organization_id`, `type`, `status`;--> statement-breakpoint
UPDATE `fanouts` SET
  `open_tasks` = (SELECT count(*) FROM `tasks` WHERE `tasks`.`fanout_id` = `fanouts`.`id` AND `tasks`.`status` IN ('SCHEDULED', 'PENDING', 'IN_PROGRESS')),
  `finished_at` = CASE WHEN EXISTS (SELECT 1 FROM `tasks` WHERE `tasks`.`fanout_id` = `fanouts`.`id` AND `tasks`.`status` IN ('SCHEDULED', 'PENDING', 'IN_PROGRESS')) THEN NULL
                  ELSE (SELECT max(`finished_at`) FROM `tasks` WHERE `tasks`.`fanout_id` = `fanouts`.`id`) END;--> statement-breakpoint
CREATE INDEX `fanouts_open_idx` ON `fanouts` (`organization_id`,`id`) WHERE open_tasks > 0;--> statement-breakpoint
CREATE INDEX `fanouts_org_finished_idx` ON `fanouts` (`organization_id`,`finished_at`);