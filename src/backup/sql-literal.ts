/**
 * SQL literals for the logical dump. Values come from a client opened with intMode "bigint", so
 * integers (bigint) and reals (number) stay apart; every literal reads back as the same value
 * and storage class.
 */
import { Buffer } from "node:buffer";

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Characters that would break the one-row-per-line layout of the dump (or NUL). */
const LINE_BREAKING = /[\n\r\0\u2028\u2029]/;

export function sqlLiteral(value: unknown): string {
  if (value === null || value === undefined) return "NULL";
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number") return realLiteral(value);
  if (typeof value === "boolean") return value ? "1" : "0";
  if (typeof value === "string") {
    // Text with line breaks is written as hex cast back to TEXT: exact bytes, one line per row.
    if (LINE_BREAKING.test(value)) return `CAST(X'${Buffer.from(value, "utf8").toString("hex")}' AS TEXT)`;
    return `'${value.replace(/'/g, "''")}'`;
  }
  if (value instanceof ArrayBuffer) return `X'${Buffer.from(value).toString("hex")}'`;
  if (ArrayBuffer.isView(value)) return `X'${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("hex")}'`;
  throw new TypeError(`cannot write a value of type ${typeof value} as SQL`);
}

/**
 * A REAL literal that reads back bit for bit. JavaScript's shortest round-trip form is exact;
 * whole numbers get ".0" so SQLite keeps them REAL. SQLite stores NaN as NULL, and reads
 * 9e999 as infinity.
 */
export function realLiteral(x: number): string {
  if (Number.isNaN(x)) return "NULL";
  if (x === Infinity) return "9e999";
  if (x === -Infinity) return "-9e999";
  if (Object.is(x, -0)) return "-0.0";
  const s = String(x);
  return /[.eE]/.test(s) ? s : `${s}.0`;
}
