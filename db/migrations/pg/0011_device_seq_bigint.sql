-- A device's last dispatch sequence number becomes bigint: every agent connect now reserves a
-- block of numbers (lib/devices/connection.ts, SEQ_BLOCK), used or not, and an agent that
-- reconnected as often as it may (5 in 10 s) would use up integer's 2^31 in about a year and
-- a half. The devices
-- table is rewritten once, holding it meanwhile (a few seconds at 100,000 devices).
ALTER TABLE "devices" ALTER COLUMN "last_seq" SET DATA TYPE bigint;
