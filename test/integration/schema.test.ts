// schema.prisma and the migrated database must agree: every model column exists with the right
// type and nullability, no column exists that the schema does not know, enums have the same values,
// and every named index is there. Migrations are hand-written, so this is what catches drift.
import { readFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { LOCK_TIMEOUT_MS } from "../../src/platform/db/client.js";
import { prismaClient, testDb } from "../support/db.js";

const db = testDb();
// The generated, typed Prisma client (the worker itself speaks SQL over node-postgres): it must
// read and write every model of the migrated database.
const prisma = prismaClient();
afterAll(async () => {
  await db.$disconnect();
  await prisma.$disconnect();
});

interface SchemaColumn { table: string; column: string; type: string; nullable: boolean }

const schema = readFileSync(new URL("../../prisma/schema.prisma", import.meta.url), "utf8");
const blocks = [...schema.matchAll(/^(model|enum) (\w+) \{([\s\S]*?)^\}/gm)].map((m) => ({ kind: m[1]!, name: m[2]!, body: m[3]! }));
const enums = new Map(
  blocks
    .filter((b) => b.kind === "enum")
    .map((b) => [b.name, { dbName: /@@map\("(\w+)"\)/.exec(b.body)?.[1] ?? b.name, values: b.body.split("\n").map((l) => l.trim()).filter((l) => /^[A-Z_]+$/.test(l)) }]),
);
const SCALARS: Record<string, string> = { Int: "integer", String: "text", Boolean: "boolean", DateTime: "timestamp with time zone", Json: "jsonb", BigInt: "bigint" };
const NATIVE: Record<string, string> = { SmallInt: "smallint", "Timestamptz(6)": "timestamp with time zone" };

function schemaColumns(): SchemaColumn[] {
  const columns: SchemaColumn[] = [];
  for (const model of blocks.filter((b) => b.kind === "model")) {
    const table = /@@map\("(\w+)"\)/.exec(model.body)?.[1] ?? model.name;
    for (const line of model.body.split("\n").map((l) => l.trim())) {
      const m = /^(\w+)\s+(\w+)(\[\])?(\?)?\s*(.*)$/.exec(line);
      if (!m || line.startsWith("@@") || line.startsWith("//")) continue;
      const [, field, type, list, optional, attrs] = m as unknown as [string, string, string, string | undefined, string | undefined, string];
      if (list || attrs.includes("@relation")) continue;
      const native = /@db\.(\w+(?:\(\d+\))?)/.exec(attrs)?.[1];
      const pgType = enums.has(type) ? `enum:${enums.get(type)!.dbName}` : native ? NATIVE[native] : SCALARS[type];
      if (!pgType) throw new Error(`schema.test: no mapping for ${model.name}.${field} (${type}${native ? ` @db.${native}` : ""}); extend the test`);
      columns.push({ table, column: /@map\("(\w+)"\)/.exec(attrs)?.[1] ?? field, type: pgType, nullable: optional === "?" });
    }
  }
  return columns;
}

describe("schema.prisma against the migrated database", () => {
  it("has exactly the same tables, columns, types and nullability", async () => {
    const expected = schemaColumns();
    const tables = [...new Set(expected.map((c) => c.table))];
    const rows = await db.$queryRaw<{ table: string; column: string; data_type: string; udt_name: string; is_nullable: string }[]>`
      SELECT table_name AS table, column_name AS column, data_type, udt_name, is_nullable
      FROM information_schema.columns WHERE table_schema = 'public' AND table_name = ANY(${tables}::text[])`;
    const actual = rows.map((r) => ({ table: r.table, column: r.column, type: r.data_type === "USER-DEFINED" ? `enum:${r.udt_name}` : r.data_type, nullable: r.is_nullable === "YES" }));
    const key = (c: SchemaColumn) => `${c.table}.${c.column}`;
    expect(actual.sort((a, b) => key(a).localeCompare(key(b)))).toEqual(expected.sort((a, b) => key(a).localeCompare(key(b))));
  });

  it("has the same enum values", async () => {
    for (const { dbName, values } of enums.values()) {
      const rows = await db.$queryRaw<{ label: string }[]>`
        SELECT e.enumlabel AS label FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid WHERE t.typname = ${dbName} ORDER BY e.enumsortorder`;
      expect(rows.map((r) => r.label), dbName).toEqual(values);
    }
  });

  it("has every index the schema names, the inbox index partial", async () => {
    const names = [...schema.matchAll(/map: "(\w+_(?:idx|key))"/g)].map((m) => m[1]!);
    expect(names.length).toBeGreaterThanOrEqual(4);
    const rows = await db.$queryRaw<{ indexname: string; indexdef: string }[]>`SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'`;
    const defs = new Map(rows.map((r) => [r.indexname, r.indexdef]));
    for (const name of names) expect(defs.has(name), name).toBe(true);
    expect(defs.get("tasks_inbox_status_changed_at_idx")).toMatch(/\(status, status_changed_at\) WHERE \(location = 'INBOX'::task_location\)/);
  });

  it("round-trips a row through every model with the Prisma client", async () => {
    const task = await prisma.task.create({
      data: { organizationId: 1, workspaceId: 2, displayName: "schema.pdf", status: 30, originalPayload: { pages: 3 }, externalId: "schema-test" },
    });
    await prisma.taskAssignment.create({ data: { taskId: task.id, userId: "u1", position: 1 } });
    const event = await prisma.taskEvent.create({
      data: { taskId: task.id, organizationId: 1, workspaceId: 2, kind: "REPROCESSED", fromStatus: 30, reason: "test", actor: "test", requestId: "schema-request", details: { edits: null } },
    });
    await prisma.taskEventRequest.findUniqueOrThrow({ where: { requestId: "schema-request" } });
    const read = await prisma.task.findUniqueOrThrow({ where: { id: task.id }, include: { assignments: true } });
    expect(read).toMatchObject({ location: "INBOX", warning: false, assignments: [{ status: "PENDING" }] });
    await prisma.task.delete({ where: { id: task.id } });
    await prisma.taskEvent.delete({ where: { id_createdAt: { id: event.id, createdAt: event.createdAt } } });
    await prisma.taskEventRequest.delete({ where: { requestId: "schema-request" } });
  });
});

describe("the status trigger", () => {
  it("stamps status_changed_at with the database clock and remembers the previous status, for any writer", async () => {
    const task = await prisma.task.create({
      data: { organizationId: 1, workspaceId: 1, displayName: "t.pdf", status: 41, originalPayload: {}, statusChangedAt: new Date("2020-01-01T00:00:00Z") },
    });
    expect(task.statusChangedAt.toISOString()).toBe("2020-01-01T00:00:00.000Z"); // an INSERT may set it
    await db.$executeRaw`UPDATE tasks SET display_name = 'renamed.pdf' WHERE id = ${task.id}`;
    const renamed = await prisma.task.findUniqueOrThrow({ where: { id: task.id } });
    expect(renamed.statusChangedAt.toISOString()).toBe("2020-01-01T00:00:00.000Z"); // no status change, no stamp
    await db.$executeRaw`UPDATE tasks SET status = 42, status_changed_at = '1999-01-01' WHERE id = ${task.id}`;
    const [row] = (await db.$queryRaw<{ fresh: boolean; previous_status: number }[]>`
      SELECT status_changed_at > now() - interval '1 minute' AS fresh, previous_status FROM tasks WHERE id = ${task.id}`) as [{ fresh: boolean; previous_status: number }];
    expect(row).toEqual({ fresh: true, previous_status: 41 });
    await prisma.task.delete({ where: { id: task.id } });
  });
});

describe("the worker's connections", () => {
  it("never wait for a lock longer than LOCK_TIMEOUT_MS", async () => {
    const [{ lock_timeout }] = (await db.$queryRaw<{ lock_timeout: string }[]>`SHOW lock_timeout`) as [{ lock_timeout: string }];
    expect(lock_timeout).toBe(`${LOCK_TIMEOUT_MS / 1000}s`);
  });
});
