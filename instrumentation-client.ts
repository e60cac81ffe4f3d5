import { z } from "zod";

// Runs in the browser before the app's own modules. zod compiles object parsers with
// `new Function` when it may; under the console's CSP (no 'unsafe-eval') its probe for that
// is refused and reported as a violation on every page. Without it, zod parses the same way.
z.config({ jitless: true });
