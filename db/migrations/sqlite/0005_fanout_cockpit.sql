ALTER TABLE `fanouts` ADD `failed_tasks` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `fanouts` ADD `expired_tasks` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `fanouts` ADD `cancelled_tasks` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `fanouts` ADD `retry_of` integer REFERENCES fanouts(id) ON DELETE SET NULL;--> statement-breakpoint
CREATE INDEX `fanouts_retry_of_idx` ON `fanouts` (`retry_of`) WHERE retry_of is not null;--> statement-breakpoint
CREATE INDEX `tasks_fanout_duration_idx` ON `tasks` (`fanout_id`,(finished_at - started_at)) WHERE (finished_at - started_at) is not null;--> statement-breakpoint
-- Existing fan-outs counted once here (as rules/sql.ts recountStatements does); from now on the triggers keep them.
UPDATE `fanouts` SET
  `failed_tasks` = (SELECT count(*) FROM `tasks` WHERE `tasks`.`fanout_id` = `fanouts`.`id` AND `tasks`.`status` = 'FAILED'),
  `expired_tasks` = (SELECT count(*) FROM `tasks` WHERE `tasks`.`fanout_id` = `fanouts`.`id` AND `tasks`.`status` = 'EXPIRED'),
  `cancelled_tasks` = (SELECT count(*) FROM `tasks` WHERE `tasks`.`fanout_id` = `fanouts`.`id` AND `tasks`.`status` = 'CANCELLED');
