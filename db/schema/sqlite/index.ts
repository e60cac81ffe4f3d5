export * from "./auth";
export * from "./fleet";
export * from "./tasks";
export * from "./tokens";
export * from "./ops";
export * from "./audit";
export * from "./schedules";
