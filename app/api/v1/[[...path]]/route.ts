import { errorResponse } from "@/lib/api/http";
import { NotFoundError } from "@/lib/errors";

// Anything under /api/v1 that no route serves answers in the API's JSON, not an HTML page.
export const dynamic = "force-dynamic";

const notFound = () => errorResponse(new NotFoundError("This API endpoint"));
export { notFound as GET, notFound as POST, notFound as PUT, notFound as PATCH, notFound as DELETE };
