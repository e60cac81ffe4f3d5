import { exportRoute } from "@/lib/api/export";

export const GET = exportRoute("json");
