/** wait: block until the database answers, or fail with "unreachable" (exit 4). */
import { parseDuration } from "../config/duration.ts";
import { withSession, type CommandOptions } from "./context.ts";

export interface WaitResult {
  database: string;
  attempts: number;
  waitedMs: number;
}

export async function waitForDatabase(options: CommandOptions & { timeout?: string | undefined }): Promise<WaitResult> {
  const timeoutMs = parseDuration(options.timeout ?? "60s", "timeout");
  const started = Date.now();
  return withSession({ ...options, waitMs: undefined }, { write: false, needFiles: false }, async (s) => {
    const attempts = s.db.exists ? await s.engine.waitUntilReachable(timeoutMs) : 1;
    return { database: s.db.displayUrl, attempts, waitedMs: Date.now() - started };
  });
}
