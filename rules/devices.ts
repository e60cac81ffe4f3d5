export const DEVICE_STATUSES = ["PENDING", "ENABLED", "DISABLED"] as const;
export type DeviceStatus = (typeof DEVICE_STATUSES)[number];

/** How a soft-deleted device is shown everywhere, the task list included. */
export const DELETED_SUFFIX = "__deleted__";

/** Whether a shown device name is that of a deleted device. */
export const isDeletedName = (name: string) => name.endsWith(DELETED_SUFFIX);

export const DEVICE_NAME_MAX = 64;
