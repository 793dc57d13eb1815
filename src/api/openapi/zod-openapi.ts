// Pieces of an OpenAPI 3.1 document from zod schemas, with zod's own JSON Schema output (OpenAPI
// 3.1 schemas are JSON Schema 2020-12). Hand-written rather than a library such as zod-openapi:
// it is two small functions over z.toJSONSchema, and the handlers' schemas stay plain zod.
import { z } from "zod";

type JsonSchema = Record<string, unknown>;

/** JSON Schema for OpenAPI: no $schema/$id, and no 2 kB date-time regex beside `format: date-time`. */
function tidy(schema: JsonSchema): JsonSchema {
  const { $schema: _s, $id: _i, ...rest } = schema;
  return rest;
}

const override = (ctx: { jsonSchema: JsonSchema }) => {
  if (ctx.jsonSchema.format === "date-time") delete ctx.jsonSchema.pattern;
};

/** `components.schemas` of every schema in `registry`, referencing each other by `#/components/schemas/<id>`. */
export function componentSchemas(registry: z.core.$ZodRegistry<{ id: string }>): Record<string, JsonSchema> {
  const { schemas } = z.toJSONSchema(registry, { target: "draft-2020-12", uri: (id) => `#/components/schemas/${id}`, override, unrepresentable: "any" }) as { schemas: Record<string, JsonSchema> };
  return Object.fromEntries(Object.entries(schemas).map(([id, s]) => [id, tidy(s)]));
}

/** `$ref` to a schema of `registry`. */
export function ref(registry: z.core.$ZodRegistry<{ id: string }>, schema: z.ZodType): { $ref: string } {
  const meta = registry.get(schema);
  if (!meta) throw new Error("schema is not in the registry");
  return { $ref: `#/components/schemas/${meta.id}` };
}

interface Def {
  type?: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  out?: z.ZodType;
}
const defOf = (schema: z.ZodType) => (schema as unknown as { def: Def }).def;

/** The description given with .meta()/.describe() on `schema` or any schema it wraps. */
function descriptionOf(schema: z.ZodType | undefined): string | undefined {
  for (let s = schema; s; ) {
    const description = z.globalRegistry.get(s)?.description;
    if (description) return description;
    const def = defOf(s);
    s = def.innerType ?? (def.type === "pipe" ? (defOf(def.in!).type === "unknown" ? def.out : def.in) : undefined);
  }
  return undefined;
}

/** What a query parameter takes on the wire: optional and transforms peeled off; an `unknown` guard (e.g. "given once") skipped. */
function wireSchema(schema: z.ZodType): z.ZodType {
  const def = defOf(schema);
  if (def.type === "optional" || def.type === "default" || def.type === "prefault" || def.type === "nullable") return wireSchema(def.innerType!);
  if (def.type === "pipe") return wireSchema(defOf(def.in!).type === "unknown" ? def.out! : def.in!);
  return schema;
}

export interface QueryParameter {
  name: string;
  in: "query";
  required: boolean;
  description?: string;
  schema: JsonSchema;
  style?: "form";
  explode?: boolean;
}

/**
 * One OpenAPI query parameter per field of a (strict) object schema; `lists` are repeated (form,
 * exploded); `descriptions` stand in for fields whose schema carries none.
 */
export function queryParameters(shape: Record<string, z.ZodType>, options: { lists?: readonly string[]; descriptions?: Record<string, string> } = {}): QueryParameter[] {
  const { lists = [], descriptions = {} } = options;
  return Object.entries(shape).map(([name, field]) => {
    const description = descriptionOf(field) ?? descriptions[name];
    const { description: _d, ...schema } = tidy(z.toJSONSchema(wireSchema(field), { target: "draft-2020-12", io: "input", override, unrepresentable: "any" }) as JsonSchema);
    return {
      name,
      in: "query" as const,
      required: !field.safeParse(undefined).success,
      ...(description ? { description } : {}),
      schema,
      ...(lists.includes(name) ? { style: "form" as const, explode: true } : {}),
    };
  });
}
