/**
 * Printing a command's result: text or JSON on stdout, through the fd (src/output/fd.ts), with
 * every line redacted. Free of cmd-ts, so the start-up fast path (./fast.ts) prints with it too.
 */
import { ExitCode } from "../errors.ts";
import { writeFd } from "../output/fd.ts";
import { redactSecrets } from "../output/redact.ts";

/** Text output (stdout) of a successful command. */
export function printOut(text: string): void {
  if (text) writeFd(1, redactSecrets(text.endsWith("\n") ? text : text + "\n"));
}

export function printErr(text: string): void {
  if (text) writeFd(2, redactSecrets(text.endsWith("\n") ? text : text + "\n"));
}

export function printJson(value: unknown): void {
  writeFd(1, redactSecrets(JSON.stringify(value, null, 2)) + "\n");
}

/**
 * A command's result as JSON or text. --quiet prints nothing on success; a report that explains
 * a failing exit code goes to stderr.
 */
export function printResult<T>(command: string, v: { json: boolean; quiet: boolean }, result: T, render: (result: T) => string, code: number): void {
  if (v.json) printJson({ ok: true, command, ...(result as object) });
  else if (!v.quiet) printOut(render(result));
  else if (code !== ExitCode.ok) printErr(render(result));
}
