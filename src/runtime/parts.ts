/** What the engine's runners share: built once by Engine (migrator.ts), passed to each. */
import type { Database } from "../db/connection.ts";
import type { Logger } from "../output/logger.ts";
import type { RunLock } from "./lock.ts";
import type { Reads } from "./reads.ts";
import type { Store } from "./store.ts";
import type { Transactions } from "./transaction.ts";

export interface EngineParts {
  db: Database;
  store: Store;
  logger: Logger;
  reads: Reads;
  runLock: RunLock;
  transactions: Transactions;
}
