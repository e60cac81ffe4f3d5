"use client";

import { createAuthClient } from "better-auth/react";

// Same origin as the page: the auth routes live under /api/auth of this server.
export const authClient = createAuthClient();
