/**
 * new: writes the files of a new migration. (With --autogenerate the SQL comes from comparing
 * the migrations' head with schema.sql: see src/autogenerate.)
 */
import fs from "node:fs";
import process from "node:process";
import path from "node:path";
import { StrataError } from "../errors.ts";
import { resolveSettings } from "../config/settings.ts";
import { discoverMigrations, type MigrationFile } from "../script/discover.ts";
import { silentLogger } from "../output/logger.ts";
import type { CommandOptions } from "./context.ts";

export interface NewOptions extends CommandOptions {
  message: string;
  ts?: boolean | undefined;
  /** Overrides the generated SQL (autogenerate). */
  sql?: { up: string; down: string } | undefined;
  /** For tests: the clock. */
  now?: Date | undefined;
}

export interface NewResult {
  version: string;
  name: string;
  files: string[];
}

export function slugify(message: string): string {
  return message
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "")
    .slice(0, 60)
    .replace(/_+$/, "");
}

/** UTC YYYYMMDDHHMMSS. */
export function timestampVersion(d: Date): string {
  return d.toISOString().replace(/[-:T]/g, "").slice(0, 14);
}

/** A version newer than every existing one, so two `new` in one second still differ. */
function nextVersion(now: Date, existing: MigrationFile[]): string {
  let v = BigInt(timestampVersion(now));
  for (const f of existing) if (BigInt(f.version) >= v) v = BigInt(f.version) + 1n;
  return v.toString();
}

export function newMigration(options: NewOptions): NewResult {
  const logger = options.logger ?? silentLogger;
  const slug = slugify(options.message);
  if (!slug) {
    throw new StrataError("usage", `the message "${options.message}" has no letters or digits to name the migration with`, {
      hint: 'describe the change, e.g. strata new "add specialist bio"',
    });
  }
  const settings = resolveSettings(options);
  fs.mkdirSync(settings.dir, { recursive: true });
  const existing = discoverMigrations(settings.dir);
  const version = nextVersion(options.now ?? new Date(), existing);
  const base = path.join(settings.dir, `${version}_${slug}`);
  const message = options.message.replace(/\s+/g, " ").trim();
  const files: [string, string][] = options.ts
    ? [[`${base}.ts`, tsTemplate(message)]]
    : [
        [`${base}.up.sql`, options.sql?.up ?? sqlTemplate(message, "up")],
        [`${base}.down.sql`, options.sql?.down ?? sqlTemplate(message, "down")],
      ];
  for (const [file, content] of files) {
    // "wx": never overwrite an existing file.
    fs.writeFileSync(file, content, { flag: "wx" });
    logger.info(`created ${path.relative(process.cwd(), file) || file}`);
  }
  return { version, name: slug, files: files.map(([f]) => f) };
}

function sqlTemplate(message: string, direction: "up" | "down"): string {
  return direction === "up"
    ? `-- ${message}\n-- Runs in one transaction together with its version row. Add \`-- strata:no-transaction\`\n-- as the first line for statements SQLite refuses inside a transaction.\n\n`
    : `-- Revert: ${message}\n-- Delete this file if the migration cannot be reverted (down will then refuse to pass it).\n\n`;
}

function tsTemplate(message: string): string {
  return `// ${message}
import type { Transaction } from "@libsql/client";

// \`tx\` is the @libsql/client Transaction this migration runs in: execute, batch, executeMultiple.
// Export \`const transaction = false\` to run outside a transaction (tx is then the Client).

export async function up(tx: Transaction): Promise<void> {
  // await tx.execute("…");
  throw new Error("write the up migration");
}

export async function down(tx: Transaction): Promise<void> {
  // await tx.execute("…");
  throw new Error("write the down migration");
}
`;
}
