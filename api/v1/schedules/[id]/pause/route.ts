import { otherMethods } from "@/lib/api/http";
import { scheduleStateRoute } from "@/lib/api/schedules";

export const PUT = scheduleStateRoute(false);

export const { GET, POST, PATCH, DELETE } = otherMethods("PUT");
