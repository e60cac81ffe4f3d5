"use client";

import { useState } from "react";

/** Copies a value to the clipboard; where the clipboard is unavailable, selects the field instead. */
export function CopyButton({ value, target, label }: { value: string; target: string; label: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      className="btn btn-sm"
      aria-label={label}
      onClick={async () => {
        try {
          await navigator.clipboard.writeText(value);
          setCopied(true);
          setTimeout(() => setCopied(false), 2000);
        } catch {
          (document.getElementById(target) as HTMLInputElement | null)?.select();
        }
      }}
    >
      {copied ? "Copied" : "Copy"}
    </button>
  );
}
