import { startTransition, type FormEvent } from "react";

/**
 * Submits a form to an action without React's automatic form reset: that reset puts a
 * controlled <select> back on its first option while its state keeps the chosen one, so a
 * form that failed would show one role and send another.
 */
export function submitTo(action: (formData: FormData) => void) {
  return (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const formData = new FormData(e.currentTarget, (e.nativeEvent as SubmitEvent).submitter);
    startTransition(() => action(formData));
  };
}
