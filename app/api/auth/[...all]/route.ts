import { toNextJsHandler } from "better-auth/next-js";
import { AUTH_ROUTES, getAuth } from "@/lib/auth/auth";

// The auth instance is created on the first request, never at build time.
export const dynamic = "force-dynamic";

const PREFIX = "/api/auth";

const notFound = () =>
  Response.json({ error: { code: "not_found", message: "This endpoint does not exist" } }, { status: 404, headers: { "cache-control": "no-store" } });

/**
 * The session token travels in the httpOnly cookie only: a JSON body that repeats it would
 * hand it to any script that reads the answer.
 */
async function withoutTokens(res: Response): Promise<Response> {
  if (!res.headers.get("content-type")?.includes("application/json")) return res;
  const body = (await res.json().catch(() => null)) as Record<string, unknown> | null;
  if (body && typeof body === "object") {
    delete body.token;
    const session = body.session as Record<string, unknown> | undefined;
    if (session && typeof session === "object") delete session.token;
  }
  const headers = new Headers(res.headers);
  headers.delete("content-length");
  return new Response(JSON.stringify(body), { status: res.status, headers });
}

async function serve(req: Request, method: "GET" | "POST"): Promise<Response> {
  const path = new URL(req.url).pathname.slice(PREFIX.length).replace(/\/+$/, "");
  if (!AUTH_ROUTES.has(`${method} ${path}`)) return notFound();
  return withoutTokens(await toNextJsHandler(getAuth())[method](req));
}

export const GET = (req: Request) => serve(req, "GET");
export const POST = (req: Request) => serve(req, "POST");
const others = () => notFound();
export { others as PUT, others as PATCH, others as DELETE };
