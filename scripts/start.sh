#!/bin/sh
# npm start: the compiled server (npm run build makes it), in production mode.
if [ ! -f dist/server.mjs ]; then
  echo "Taskwire is not built (no dist/server.mjs): run npm run build first." >&2
  exit 1
fi
NODE_ENV=production exec node dist/server.mjs
