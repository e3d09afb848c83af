/** The committed SDL (`schema/schema.graphql`, written by `npm run codegen`) must equal the schema the server runs. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as GraphQL from 'graphql';
import { describe, expect, it } from 'vitest';
import { schema } from '../src/schema/index.ts';

// The graphql instance Pothos uses (Node's CJS build); vitest would otherwise hand this file the ESM build, another realm.
const { lexicographicSortSchema, printSchema } = createRequire(import.meta.url)('graphql') as typeof GraphQL;

describe('schema/schema.graphql', () => {
  it('equals the printed Pothos schema (run `npm run codegen` after changing the schema)', () => {
    const committed = readFileSync(new URL('../schema/schema.graphql', import.meta.url), 'utf8');
    expect(committed.trimEnd()).toBe(printSchema(lexicographicSortSchema(schema)).trimEnd());
  });

  it('documents every type, field, argument, input field and enum value', () => {
    const missing: string[] = [];
    for (const type of Object.values(schema.getTypeMap())) {
      if (type.name.startsWith('__') || ['String', 'Boolean', 'Int', 'ID', 'Float'].includes(type.name)) continue;
      if (!type.description) missing.push(type.name);
      if ('getFields' in type) {
        for (const field of Object.values(type.getFields())) {
          if (!field.description) missing.push(`${type.name}.${field.name}`);
          for (const arg of 'args' in field ? field.args : []) if (!arg.description) missing.push(`${type.name}.${field.name}(${arg.name})`);
        }
      }
      if ('getValues' in type) for (const value of type.getValues()) if (!value.description) missing.push(`${type.name}.${value.name}`);
    }
    expect(missing).toEqual([]);
  });

  it('offers forward pagination only (first/after), as every provider pages forward', () => {
    const printed = printSchema(schema);
    expect(printed).not.toMatch(/\b(last|before):/);
    expect(printed).toMatch(/conversations\(/);
  });
});
