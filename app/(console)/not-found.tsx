import { NotFoundMessage } from "@/app/_components/not-found-message";

/** A console page that is not there (an unknown code, another organization's task), under the console's header. */
export default function ConsoleNotFound() {
  return <NotFoundMessage />;
}
