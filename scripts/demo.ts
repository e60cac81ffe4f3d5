import { z } from "zod";
import { isSeeded, seedDemo, DEMO_PASSWORD, DEMO_USERS } from "../db/seed";
import { startServer } from "../server";
import { ensureBuild } from "./ensure-build";

// No flags yet: anything given is a mistake worth saying out loud.
const flags = z.array(z.string()).max(0, "npm run demo takes no arguments (set PORT, HOST or DATABASE_URL instead)").safeParse(process.argv.slice(2));
if (!flags.success) {
  console.error(flags.error.issues[0].message);
  process.exit(2);
}

ensureBuild();
const server = await startServer(
  {},
  {
    beforeListen: async (db) => {
      if (isSeeded(db)) {
        console.log("Demo data already present; starting on the existing database (delete the data folder to start over).");
        return;
      }
      console.log("Seeding the demo organizations, fleets and task history…");
      await seedDemo(db);
    },
  },
);

console.log(`
Taskwire demo is running at ${server.url}

  Sign in as ${DEMO_USERS.admin} (ADMIN of acme and globex)
          or ${DEMO_USERS.viewer} (READ_ONLY in acme)
  Password: ${DEMO_PASSWORD}

Stop with Ctrl+C.`);

const stop = () => void server.close().then(() => process.exit(0));
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
