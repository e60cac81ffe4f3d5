"use client";

import { useSyncExternalStore } from "react";

const KEY = "taskwire.autoRefresh";
const EVENT = "taskwire:auto-refresh";

function subscribe(onChange: () => void) {
  window.addEventListener("storage", onChange);
  window.addEventListener(EVENT, onChange);
  return () => {
    window.removeEventListener("storage", onChange);
    window.removeEventListener(EVENT, onChange);
  };
}

/** The Auto-refresh toggle, remembered in this browser across visits (default ON). */
export function useAutoRefresh(): [boolean, (on: boolean) => void] {
  const on = useSyncExternalStore(
    subscribe,
    () => window.localStorage.getItem(KEY) !== "off",
    () => true,
  );
  const set = (value: boolean) => {
    window.localStorage.setItem(KEY, value ? "on" : "off");
    window.dispatchEvent(new Event(EVENT));
  };
  return [on, set];
}
