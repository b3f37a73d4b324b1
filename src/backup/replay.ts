/**
 * Reading a dump back, statement by statement (streamed: one statement in memory at a time),
 * and replaying statements into a database in batches, each batch one transaction with
 * foreign-key enforcement off (client.migrate: one round trip on a remote database).
 */
import fs from "node:fs";
import readline from "node:readline";
import { Transform } from "node:stream";
import type { Hash } from "node:crypto";
import type { Client } from "@libsql/client";
import { StrataError, messageOf } from "../errors.ts";
import { describeDbError, sqliteMessage } from "../db/errors.ts";
import { splitSql, SqlSyntaxError } from "../script/sql-split.ts";
import { TRAILER } from "./dump.ts";

export interface Trailer {
  statements: number;
  rows: number;
}

export interface DumpReaderOptions {
  /** Sees every byte read (checksum while reading). */
  hash?: Hash;
  onBytes?: (bytes: number) => void;
}

/** A sentinel appended when probing whether the text read so far ends with a whole statement. */
const SENTINEL = "SELECT 'strata:statement-complete'";

export class DumpReader {
  readonly file: string;
  private readonly options: DumpReaderOptions;
  /** The trailer, once the whole file has been read; undefined if it had none (truncated). */
  trailer: Trailer | undefined;
  statementsRead = 0;

  constructor(file: string, options: DumpReaderOptions = {}) {
    this.file = file;
    this.options = options;
  }

  async *statements(): AsyncGenerator<string> {
    let bytes = 0;
    const { hash, onBytes } = this.options;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash?.update(chunk);
        bytes += chunk.length;
        onBytes?.(bytes);
        done(null, chunk);
      },
    });
    const input = fs.createReadStream(this.file, { highWaterMark: 64 << 10 });
    input.on("error", (e) => tap.destroy(e));
    const lines = readline.createInterface({ input: input.pipe(tap), crlfDelay: Infinity });
    let pending = "";
    let lineNo = 0;
    let startLine = 0;
    try {
      for await (const line of lines) {
        lineNo++;
        if (pending === "") {
          const t = line.trim();
          if (t === "") continue;
          if (t.startsWith("--")) {
            if (t.startsWith(TRAILER)) this.trailer = parseTrailer(t);
            continue;
          }
          if (this.trailer) throw this.error(`statement after the end marker at line ${lineNo}`);
          startLine = lineNo;
          pending = line;
        } else {
          pending += "\n" + line;
        }
        if (!pending.trimEnd().endsWith(";")) continue;
        const complete = this.complete(pending, startLine);
        if (complete === undefined) continue;
        pending = "";
        for (const s of complete) {
          this.statementsRead++;
          yield s;
        }
      }
    } finally {
      lines.close();
      input.destroy();
    }
    if (pending.trim() !== "") throw this.error(`the file ends inside a statement (from line ${startLine})`);
  }

  /** The statements in `text` if it ends with a whole statement, else undefined. */
  private complete(text: string, line: number): string[] | undefined {
    let split;
    try {
      split = splitSql(`${text}\n${SENTINEL}`).statements;
    } catch (e) {
      if (e instanceof SqlSyntaxError && /unterminated|has no END/.test(e.message)) return undefined;
      throw this.error(`cannot read the statement at line ${line}: ${messageOf(e)}`);
    }
    const last = split.pop();
    if (last?.sql !== SENTINEL) return undefined; // the ';' was inside a trailing comment
    return split.map((s) => s.sql);
  }

  private error(message: string): StrataError {
    return new StrataError("state", `${this.file} is not a valid strata dump: ${message}`, {
      file: this.file,
      hint: "the backup is damaged or incomplete; nothing was changed",
    });
  }
}

function parseTrailer(line: string): Trailer {
  const num = (key: string) => Number(new RegExp(`${key}=(\\d+)`).exec(line)?.[1] ?? NaN);
  return { statements: num("statements"), rows: num("rows") };
}

/** Transaction control in a dump: replay makes its own transactions. */
const CONTROL = /^(?:BEGIN(?:\s+(?:DEFERRED|IMMEDIATE|EXCLUSIVE))?(?:\s+TRANSACTION)?|COMMIT(?:\s+TRANSACTION)?|END(?:\s+TRANSACTION)?|PRAGMA\s+foreign_keys\s*=\s*(?:OFF|0|false))$/i;

export interface ReplayOptions {
  displayUrl: string;
  /** Runs one batch; default `client.migrate` (its own transaction, foreign keys off). */
  runBatch?: (statements: string[]) => Promise<unknown>;
  /** Statements per batch (one transaction, one round trip). */
  maxStatements?: number;
  maxBytes?: number;
  onProgress?: (statements: number, rows: number) => void;
}

export interface ReplayResult {
  statements: number;
  rows: number;
}

/**
 * Runs `statements` in batches. Not atomic as a whole on a remote database (each batch is);
 * callers take a safety backup first and say so when it fails midway.
 */
export async function replay(client: Client, statements: AsyncIterable<string>, options: ReplayOptions): Promise<ReplayResult> {
  const runBatch = options.runBatch ?? ((b: string[]) => client.migrate(b));
  const maxStatements = options.maxStatements ?? 500;
  const maxBytes = options.maxBytes ?? 1 << 20;
  let batch: string[] = [];
  let bytes = 0;
  let done = 0;
  let rows = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    try {
      await runBatch(batch);
    } catch (e) {
      const index = (e as { statementIndex?: number }).statementIndex;
      const stmt = index !== undefined ? batch[index] : undefined;
      if (stmt === undefined) throw describeDbError(e, options.displayUrl);
      const preview = stmt.replace(/\s+/g, " ").slice(0, 160);
      throw new StrataError("failure", `${sqliteMessage(e)} — while replaying statement ${done + index! + 1}: ${preview}${stmt.length > 160 ? "…" : ""}`, {
        cause: e,
        details: { statement: done + index! + 1 },
      });
    }
    done += batch.length;
    options.onProgress?.(done, rows);
    batch = [];
    bytes = 0;
  };
  for await (const sql of statements) {
    if (CONTROL.test(sql.trim())) continue;
    if (/^INSERT INTO /.test(sql) && !sql.startsWith('INSERT INTO "sqlite_sequence"')) rows++;
    batch.push(sql);
    bytes += sql.length;
    if (batch.length >= maxStatements || bytes >= maxBytes) await flush();
  }
  await flush();
  return { statements: done, rows };
}
