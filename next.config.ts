import type { NextConfig } from "next";

const config: NextConfig = {
  // A separate build folder lets tests build beside a running console without clobbering it.
  distDir: process.env.NEXT_DIST_DIR || ".next",
  poweredByHeader: false,
  reactStrictMode: true,
  // `npm test` type-checks the whole project (tsc --noEmit) before it builds; checking
  // again inside the build would only double the slowest step on a 2-core machine.
  typescript: { ignoreBuildErrors: true },
};

export default config;
