import { otherMethods } from "@/lib/api/http";
import { exportRoute } from "@/lib/api/export";

export const GET = exportRoute("csv");

export const { POST, PUT, PATCH, DELETE } = otherMethods("GET");
