/**
 * Errors and exit codes. Every failure strata reports is a StrataError: one line saying what
 * happened and where, plus a hint saying what to do. The CLI prints `message` and `hint`;
 * the stack only with --verbose.
 */

/** Documented exit codes (README "Exit codes"). */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  pending: 3,
  unreachable: 4,
  lockTimeout: 5,
  /** strata fleet: one or more targets did not reach the goal (the others may have). */
  fleetIncomplete: 6,
  interrupted: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export type ErrorKind =
  | "usage" // bad flags, config or arguments
  | "config" // no URL, unreadable config file
  | "migrations" // malformed migrations folder or file
  | "state" // database state forbids the command (changed files, unknown versions, failed midway)
  | "sql" // a migration statement failed
  | "unreachable" // cannot reach / open the database
  | "lock" // lock timeout
  | "interrupted"
  | "failure";

const exitCodeOf: Record<ErrorKind, ExitCodeValue> = {
  usage: ExitCode.usage,
  config: ExitCode.usage,
  migrations: ExitCode.failure,
  state: ExitCode.failure,
  sql: ExitCode.failure,
  unreachable: ExitCode.unreachable,
  lock: ExitCode.lockTimeout,
  interrupted: ExitCode.interrupted,
  failure: ExitCode.failure,
};

export interface StrataErrorOptions {
  hint?: string;
  /** File the error is about, with the line when known (file:line). */
  file?: string;
  line?: number;
  cause?: unknown;
  /** Extra structured detail for --json output. */
  details?: Record<string, unknown>;
}

export class StrataError extends Error {
  readonly kind: ErrorKind;
  readonly hint: string | undefined;
  readonly file: string | undefined;
  readonly line: number | undefined;
  details: Record<string, unknown> | undefined;

  constructor(kind: ErrorKind, message: string, options: StrataErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "StrataError";
    this.kind = kind;
    this.hint = options.hint;
    this.file = options.file;
    this.line = options.line;
    this.details = options.details;
  }

  get exitCode(): ExitCodeValue {
    return exitCodeOf[this.kind];
  }

  /** "where: what" — the one line shown to users. */
  get where(): string | undefined {
    if (this.file === undefined) return undefined;
    return this.line === undefined ? this.file : `${this.file}:${this.line}`;
  }
}

export function isStrataError(e: unknown): e is StrataError {
  return e instanceof StrataError;
}

/** Message of any thrown value, for wrapping foreign errors. */
export function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

export function firstLine(s: string): string {
  return s.split("\n")[0]!;
}
