import type { NextConfig } from "next";

const config: NextConfig = {
  // A separate build folder lets tests build beside a running console without clobbering it.
  distDir: process.env.NEXT_DIST_DIR || ".next",
  poweredByHeader: false,
  reactStrictMode: true,
};

export default config;
