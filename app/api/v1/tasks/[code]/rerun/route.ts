import { apiRoute, created, otherMethods } from "@/lib/api/http";
import { taskCodeParam } from "@/lib/api/schemas";
import { issueResult } from "@/lib/api/serialize";
import { rerunTask } from "@/lib/tasks/verbs";

export const dynamic = "force-dynamic";

export const POST = apiRoute<{ code: string }>(({ db, actor, params }) => created(issueResult(rerunTask(db, actor, taskCodeParam(params.code)))));

export const { GET, PUT, PATCH, DELETE } = otherMethods("POST");
