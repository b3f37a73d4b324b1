/**
 * Which tables a migration's foreign-key check covers (guard.ts scopeOf): a table the migration
 * itself creates without any foreign key needs none; everything else stays checked.
 */
import assert from "node:assert/strict";
import test from "node:test";
import { canAddViolations, scopeOf } from "../src/runtime/guard.ts";

const create = "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)";
const insert = "INSERT INTO t (name) VALUES ('a')";

test("a table created by the same migration without foreign keys needs no check", () => {
  assert.deepEqual(scopeOf([create, "CREATE INDEX t_name ON t (name)", insert]), []);
  assert.deepEqual(scopeOf(['CREATE TABLE main."T" (id INTEGER PRIMARY KEY)', 'INSERT INTO "t" VALUES (1)']), []);
  assert.equal(canAddViolations(scopeOf([create, insert])), false);
});

test("a new table with a foreign key, one that may exist already, or a trigger in the migration keeps the check", () => {
  assert.deepEqual(scopeOf(["CREATE TABLE t (id INTEGER PRIMARY KEY, p INTEGER REFERENCES parent (id))", insert]), ["t"]);
  assert.deepEqual(scopeOf(["CREATE TABLE t (id INTEGER, p INTEGER, FOREIGN KEY (p) REFERENCES parent (id))", insert]), ["t"]);
  assert.deepEqual(scopeOf(["CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY)", insert]), ["t"]);
  assert.deepEqual(scopeOf(["CREATE TEMP TABLE t (id INTEGER PRIMARY KEY)", insert]), ["t"]);
  assert.deepEqual(scopeOf([create, "CREATE TRIGGER t_ai AFTER INSERT ON t BEGIN INSERT INTO u VALUES (new.id); END", insert]), ["t"]);
  assert.deepEqual(scopeOf([create, insert, "INSERT INTO other VALUES (1)"]), ["other"]);
  assert.equal(scopeOf([create, insert, "ALTER TABLE t ADD COLUMN p INTEGER REFERENCES parent (id)"]), undefined);
});
