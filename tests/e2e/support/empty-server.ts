// A second console on an empty database, for the pages the demo server never shows: the
// first-run setup, and a user who belongs to no organization.
import { closeDatabase, openDatabase } from "../../../db/client";
import { createUser } from "../../../lib/auth/users";
import { startTestServer, type TestServer } from "../../support/server";

export async function startEmptyServer(): Promise<TestServer> {
  return startTestServer({ seed: () => undefined });
}

/** Adds an account that is a member of nothing, straight into the running server's file. */
export async function addLoneUser(server: TestServer, email: string, password: string): Promise<void> {
  const db = await openDatabase(server.dbFile);
  try {
    await createUser({ db }, { email, name: "Lone user", password });
  } finally {
    await closeDatabase(db);
  }
}
