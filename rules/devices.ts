export const DEVICE_STATUSES = ["PENDING", "ENABLED", "DISABLED"] as const;
export type DeviceStatus = (typeof DEVICE_STATUSES)[number];

/** How a soft-deleted device is shown everywhere, the task list included. */
export const DELETED_SUFFIX = "__deleted__";

/** Whether a shown device name is that of a deleted device. */
export const isDeletedName = (name: string) => name.endsWith(DELETED_SUFFIX);

export const DEVICE_NAME_MAX = 64;

/** What may be done to a live device, by its status; the verbs refuse the rest. */
export const DEVICE_ACTIONS = {
  approve: ["PENDING"],
  enable: ["DISABLED"],
  disable: ["ENABLED", "PENDING"],
  rename: DEVICE_STATUSES,
  delete: DEVICE_STATUSES,
  /** Only an enabled device takes tasks. */
  tasks: ["ENABLED"],
} as const satisfies Record<string, readonly DeviceStatus[]>;
export type DeviceAction = keyof typeof DEVICE_ACTIONS;

export function deviceAllows(status: DeviceStatus, action: DeviceAction): boolean {
  return (DEVICE_ACTIONS[action] as readonly DeviceStatus[]).includes(status);
}

/** The name a device shows once deleted. */
export const deletedName = (name: string) => `${name}${DELETED_SUFFIX}`;
