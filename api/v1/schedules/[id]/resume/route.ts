import { scheduleStateRoute } from "@/lib/api/schedules";

export const PUT = scheduleStateRoute(true);
