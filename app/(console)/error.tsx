"use client";

import { ErrorMessage } from "@/app/_components/error-message";

/** A console page the server could not finish, under the console's header. */
export default function ConsoleError(props: { error: Error & { digest?: string }; retry: () => void }) {
  return <ErrorMessage {...props} />;
}
