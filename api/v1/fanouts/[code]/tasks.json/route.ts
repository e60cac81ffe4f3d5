import { otherMethods } from "@/lib/api/http";
import { exportRoute } from "@/lib/api/export";

export const GET = exportRoute("json");

export const { POST, PUT, PATCH, DELETE } = otherMethods("GET");
