import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";

// Files the server cannot run without (the auth secret, the signing key) are written so that
// a crash or a full disk leaves either the whole file or none: the bytes go to a temporary
// file in the same folder, are flushed to disk, and only then take the real name. A
// half-written secret would otherwise be read back on every later start.

/** Creates a folder (and its parents) readable by the owner only. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/**
 * Writes `data` to `file` atomically, readable by the owner only. With `exclusive`, an
 * existing file is left as it is and `false` is returned: two processes starting at once
 * both end up reading the one file that won, never two different secrets.
 */
export function writeFileAtomic(file: string, data: string | Buffer, opts: { mode?: number; exclusive?: boolean } = {}): boolean {
  const dir = dirname(file);
  ensurePrivateDir(dir);
  const tmp = join(dir, `.${basename(file)}.${randomBytes(6).toString("hex")}.tmp`);
  const fd = openSync(tmp, "wx", opts.mode ?? 0o600);
  try {
    const bytes = typeof data === "string" ? Buffer.from(data) : data;
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  let placed = true;
  try {
    if (opts.exclusive) {
      // link() refuses to replace an existing name, which rename() would silently do.
      try {
        linkSync(tmp, file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
        placed = false;
      }
    } else {
      renameSync(tmp, file);
    }
  } finally {
    rmSync(tmp, { force: true });
  }
  if (placed) fsyncDir(dir);
  return placed;
}

/** Makes a rename or link in `dir` itself durable. */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    // Some filesystems cannot fsync a folder; the file's own data is already on disk.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** A file the server depends on is present but unusable: stop, and say which and what to do. */
export class BadFileError extends Error {
  constructor(
    readonly file: string,
    problem: string,
    fix: string,
  ) {
    super(`${file} ${problem}. ${fix}`);
    this.name = "BadFileError";
  }
}
