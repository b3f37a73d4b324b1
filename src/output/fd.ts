/**
 * Output straight to file descriptors. In the compiled binary the first touch of
 * `process.stdout` / `process.stderr` builds a stream (9–15 ms of a ~20 ms run) and `node:tty`
 * costs ~5 ms to load; a synchronous write on the fd costs ~1 ms and keeps stdout and stderr in
 * the order they were written.
 */
import fs from "node:fs";
import { createRequire } from "node:module";
import { Buffer } from "node:buffer";

const encoder = new TextEncoder();

/** Writes all of `text` to `fd`. A reader that went away (`strata status | head`) is not an error. */
export function writeFd(fd: number, text: string): void {
  // Usually one write takes it all; encoding a copy first is only for the rest of a short write.
  let first = 0;
  try {
    first = fs.writeSync(fd, text);
  } catch {
    // retried below, where each error is told apart
  }
  if (first === Buffer.byteLength(text)) return;
  const bytes = encoder.encode(text);
  let offset = first;
  while (offset < bytes.length) {
    try {
      offset += fs.writeSync(fd, bytes, offset);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EPIPE") return;
      // A pipe someone else made non-blocking is full: wait for the reader instead of dropping output.
      if (code === "EAGAIN") {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
        continue;
      }
      throw e;
    }
  }
}

const terminal = new Map<number, boolean>();

/** Whether `fd` is a terminal; asked once per fd. */
export function isTerminal(fd: number): boolean {
  let answer = terminal.get(fd);
  if (answer === undefined) terminal.set(fd, (answer = probeTerminal(fd)));
  return answer;
}

function probeTerminal(fd: number): boolean {
  // Node and Deno have node:tty in their snapshot; in Bun loading it is the ~5 ms above.
  if (!("Bun" in globalThis)) return (createRequire(import.meta.url)("node:tty") as typeof import("node:tty")).isatty(fd);
  try {
    // isatty(3) without node:tty: a terminal is a character device, and /dev/null is the one
    // character device output is commonly sent to that is not one.
    const st = fs.fstatSync(fd);
    return st.isCharacterDevice() && st.rdev !== fs.statSync("/dev/null").rdev;
  } catch {
    return false;
  }
}
