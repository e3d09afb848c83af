/**
 * GraphQL Code Generator: prints the Pothos schema to `schema/schema.graphql` (checked by
 * `test/schema-sdl.test.ts`) and generates typed documents for the operations in `examples/` and
 * `test/` into `test/generated/` (client preset). Run with `npm run codegen`.
 */
import type { CodegenConfig } from '@graphql-codegen/cli';
import { lexicographicSortSchema, printSchema } from 'graphql';
import { schema } from './src/schema/index.ts';

/** The SDL exactly as the committed file holds it. */
const sdl = printSchema(lexicographicSortSchema(schema));

const scalars = {
  DateTime: 'string',
  EmailAddress: 'string',
  NonNegativeInt: 'number',
  URL: 'string',
};

const config: CodegenConfig = {
  schema: sdl,
  documents: ['examples/**/*.graphql', 'test/**/*.graphql'],
  ignoreNoDocuments: false,
  generates: {
    'schema/schema.graphql': {
      plugins: ['schema-ast'],
      config: { includeDirectives: false, sort: true },
    },
    'test/generated/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: { scalars, enumsAsTypes: true, useTypeImports: true, strictScalars: true, importExtension: '.ts' },
    },
  },
};

export default config;
