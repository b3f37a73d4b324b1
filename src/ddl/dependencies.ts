// Which views and triggers depend on which objects. Detection is token based
// (every identifier in the statement) and so over-approximates: a column that
// shares a table's name counts as a reference. That only costs an extra
// DROP/CREATE of a view or trigger, never correctness.

import type { Schema, Trigger, View } from "./model.ts";
import { identifiersIn } from "./tokenize.ts";

export interface Dependents {
  /** Dependent views, each listed after the views it depends on. */
  views: View[];
  triggers: Trigger[];
}

// Statements are re-scanned many times while computing closures; tokenize each once.
const identifierCache = new WeakMap<object, Set<string>>();

function mentionsAny(obj: { name: string; sql: string }, names: Set<string>): boolean {
  let ids = identifierCache.get(obj);
  if (!ids) {
    ids = identifiersIn(obj.sql);
    identifierCache.set(obj, ids);
  }
  const self = obj.name.toLowerCase();
  for (const id of ids) {
    if (id !== self && names.has(id)) return true;
  }
  return false;
}

/**
 * Views that (transitively) reference any of `names`, and triggers that
 * reference any of them or of those views. SQLite re-parses every view and
 * trigger on ALTER TABLE RENAME/DROP COLUMN, so these must not exist while
 * the referenced object is missing.
 */
export function dependentsOf(names: Iterable<string>, schema: Schema): Dependents {
  const targets = new Set([...names].map((n) => n.toLowerCase()));
  const views: View[] = [];
  let grew = true;
  while (grew) {
    grew = false;
    for (const v of schema.views) {
      if (views.includes(v) || !mentionsAny(v, targets)) continue;
      views.push(v);
      targets.add(v.name.toLowerCase());
      grew = true;
    }
  }
  const triggers = schema.triggers.filter((t) => mentionsAny(t, targets));
  return { views, triggers };
}

/** Order views so that each comes after the views (of the same list) it mentions. */
export function viewCreationOrder(views: View[]): View[] {
  const pending = [...views];
  const ordered: View[] = [];
  while (pending.length > 0) {
    const names = new Set(pending.map((v) => v.name.toLowerCase()));
    // Pick the first view with no pending dependency; on a cycle, just take the first.
    const ready = pending.find((v) => !mentionsAny(v, names)) ?? pending[0];
    ordered.push(ready);
    pending.splice(pending.indexOf(ready), 1);
  }
  return ordered;
}
