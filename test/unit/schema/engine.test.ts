import { describe, expect, it } from 'vitest';
import {
  applyDefaults,
  formatSchemaError,
  formatSchemaErrors,
  pruneValue,
  refineSchema,
  type Schema,
  shortValue,
  validateValue,
} from '../../../functions/model/schema/index.js';

const errorsOf = (schema: Schema, value: unknown, opts = {}) =>
  validateValue(schema, value, opts).map(formatSchemaError);

describe('Schema engine: validate', () => {
  const person: Schema = {
    type: 'object',
    required: ['name'],
    properties: {
      name: { type: 'string', minLength: 1, maxLength: 8 },
      age: { type: 'integer', minimum: 0, maximum: 150 },
      ratio: { type: 'number', minimum: 0, exclusiveMinimum: true },
      role: { type: 'string', enum: ['dba', 'dev'] },
      code: { type: 'string', pattern: '^[A-Z]{2}$' },
      tags: { type: 'array', items: { type: 'string' }, maxItems: 2, 'x-kubernetes-list-type': 'set' },
      port: { 'x-kubernetes-int-or-string': true },
      note: { type: 'string', nullable: true },
      labels: { type: 'object', additionalProperties: { type: 'string' } },
      free: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
      ns: { type: 'string', format: 'dns1123-label' },
      at: { type: 'string', format: 'date-time' },
      small: { type: 'integer', format: 'int32' },
    },
  };

  it.each([
    {
      why: 'a conforming value',
      value: { name: 'ana', age: 40, tags: ['a', 'b'], port: 'http' },
      errors: [],
    },
    {
      why: 'a list where a string is expected',
      value: { name: ['sample-pxc'] },
      errors: ['name: Invalid value: ["sample-pxc"]: must be of type string'],
    },
    { why: 'a missing required field', value: {}, errors: ['name: Required value'] },
    {
      why: 'a value outside the enum',
      value: { name: 'a', role: 'root' },
      errors: ['role: Unsupported value: "root": supported values: "dba", "dev"'],
    },
    {
      why: 'a string too long',
      value: { name: 'abcdefghij' },
      errors: ['name: Too long: "abcdefghij": may not be more than 8 characters'],
    },
    { why: 'an empty string', value: { name: '' }, errors: ['name: Invalid value: "": must not be empty'] },
    {
      why: 'a pattern mismatch',
      value: { name: 'a', code: 'abc' },
      errors: ['code: Invalid value: "abc": should match \'^[A-Z]{2}$\''],
    },
    {
      why: 'numbers out of range',
      value: { name: 'a', age: -1, ratio: 0 },
      errors: [
        'age: Invalid value: -1: should be greater than or equal to 0',
        'ratio: Invalid value: 0: should be greater than 0',
      ],
    },
    {
      why: 'a fraction for an integer',
      value: { name: 'a', age: 1.5 },
      errors: ['age: Invalid value: 1.5: must be of type integer'],
    },
    {
      why: 'duplicates in a set and too many items',
      value: { name: 'a', tags: ['x', 'x', 'y'] },
      errors: ['tags: Too many: 3 items: must have at most 2 items', 'tags[1]: Duplicate value: "x"'],
    },
    {
      why: 'an int-or-string given a boolean',
      value: { name: 'a', port: true },
      errors: ['port: Invalid value: true: must be of type integer or string'],
    },
    { why: 'null where nullable', value: { name: 'a', note: null }, errors: [] },
    {
      why: 'null where not nullable',
      value: { name: null },
      errors: ['name: Invalid value: null: must be of type string'],
    },
    {
      why: 'a map value of the wrong type, with a key that is not an identifier',
      value: { name: 'a', labels: { 'app.kubernetes.io/name': 3 } },
      errors: ['labels[app.kubernetes.io/name]: Invalid value: 3: must be of type string'],
    },
    {
      why: 'a namespace that is not a DNS-1123 label',
      value: { name: 'a', ns: 'Demo_1' },
      errors: [
        'ns: Invalid value: "Demo_1": must be a DNS-1123 label: at most 63 lower-case letters, digits or \'-\', starting and ending with a letter or digit',
      ],
    },
    {
      why: 'a date that is not RFC 3339, and an int32 overflow',
      value: { name: 'a', at: 'yesterday', small: 2 ** 31 },
      errors: [
        'at: Invalid value: "yesterday": must be an RFC 3339 date-time such as "2026-01-31T12:00:00Z"',
        'small: Invalid value: 2147483648: must fit in a 32-bit integer',
      ],
    },
  ])('reports $why', ({ value, errors }) => {
    expect(errorsOf(person, value)).toEqual(errors);
  });

  it.each([
    {
      schema: { type: 'array', minItems: 1 },
      value: [],
      error: '<root>: Invalid value: []: must have at least 1 item',
    },
    {
      schema: { type: 'array', minItems: 2 },
      value: ['a'],
      error: '<root>: Invalid value: ["a"]: must have at least 2 items',
    },
    {
      schema: { type: 'object', maxProperties: 1 },
      value: { a: 1, b: 2 },
      error: '<root>: Too many: 2 fields: must have at most 1 fields',
    },
    {
      schema: { type: 'object', minProperties: 1 },
      value: {},
      error: '<root>: Invalid value: {}: must have at least 1 field',
    },
  ] as Array<{ schema: Schema; value: unknown; error: string }>)(
    'bounds how many items or fields: $error',
    ({ schema, value, error }) => {
      expect(errorsOf(schema, value)).toEqual([error]);
    },
  );

  it('reports every error of a value, not just the first', () => {
    expect(errorsOf(person, { name: 5, age: 'old', role: 'x' })).toHaveLength(3);
  });

  it('ignores undeclared fields by default (the API server prunes them) and forbids them when asked', () => {
    const value = { name: 'a', extra: 1, free: { anything: { goes: true } } };
    expect(errorsOf(person, value)).toEqual([]);
    expect(errorsOf(person, value, { unknownFields: 'reject' })).toEqual([
      'extra: Forbidden: field not declared in schema',
    ]);
  });

  it('checks a value against a path inside a bigger document', () => {
    expect(errorsOf({ type: 'string' }, 1, { path: 'spec.tls.certificates[0].alias' })).toEqual([
      'spec.tls.certificates[0].alias: Invalid value: 1: must be of type string',
    ]);
  });

  it('checks anyOf, oneOf and not', () => {
    const quantity: Schema = {
      anyOf: [{ type: 'integer' }, { type: 'string' }],
      pattern: '^[0-9]+(Mi|Gi)?$',
      'x-kubernetes-int-or-string': true,
    };
    expect(errorsOf(quantity, '10Gi')).toEqual([]);
    expect(errorsOf(quantity, 'lots')).toEqual([
      '<root>: Invalid value: "lots": should match \'^[0-9]+(Mi|Gi)?$\'',
    ]);
    expect(errorsOf({ oneOf: [{ type: 'string' }, { type: 'string', minLength: 2 }] }, 'ab')).toHaveLength(1);
    expect(errorsOf({ not: { type: 'string' } }, 'ab')).toHaveLength(1);
  });

  it('checks list-map keys for duplicates', () => {
    const list: Schema = {
      type: 'array',
      items: { type: 'object', properties: { name: { type: 'string' } } },
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
    };
    expect(errorsOf(list, [{ name: 'a' }, { name: 'b' }, { name: 'a' }])).toEqual([
      '[2]: Duplicate value: {"name":"a"}: another item has the same name',
    ]);
  });

  it('never shows more than about 100 characters of a value, and says how long it was', () => {
    const huge = 'a'.repeat(1_000_000);
    const [message] = errorsOf(
      { type: 'object', properties: { ns: { type: 'string', maxLength: 63 } } },
      { ns: huge },
    );
    expect(message!.length).toBeLessThan(200);
    expect(message).toContain('(1000000 characters)');
    expect(shortValue({ list: Array.from({ length: 1000 }, (_, i) => i) }).length).toBeLessThan(150);
  });

  it('counts length in characters, not UTF-16 units', () => {
    expect(errorsOf({ type: 'string', maxLength: 2 }, '😀😀')).toEqual([]);
    expect(errorsOf({ type: 'string', minLength: 2 }, '😀')).toHaveLength(1);
  });

  it('joins errors in one line, and says how many it left out', () => {
    const errors = validateValue({ type: 'object', required: ['a', 'b', 'c'] }, {});
    expect(formatSchemaErrors(errors, 2)).toBe('a: Required value; b: Required value; and 1 more');
  });
});

describe('Schema engine: prune', () => {
  const schema: Schema = {
    type: 'object',
    properties: {
      spec: {
        type: 'object',
        properties: {
          keep: { type: 'string' },
          list: { type: 'array', items: { type: 'object', properties: { a: { type: 'string' } } } },
          open: {
            type: 'object',
            'x-kubernetes-preserve-unknown-fields': true,
            properties: { x: { type: 'object', properties: {} } },
          },
          map: {
            type: 'object',
            additionalProperties: { type: 'object', properties: { v: { type: 'string' } } },
          },
        },
      },
      metadata: { type: 'object' },
    },
  };

  it('drops undeclared fields at every level and says where', () => {
    const { value, pruned } = pruneValue(schema, {
      spec: {
        keep: 'k',
        drop: 1,
        list: [{ a: 'x', b: 'y' }],
        open: { anything: 1, x: { gone: true } },
        map: { one: { v: 'v', w: 'w' } },
      },
      status: {},
    });
    expect(value).toEqual({
      spec: { keep: 'k', list: [{ a: 'x' }], open: { anything: 1, x: {} }, map: { one: { v: 'v' } } },
    });
    expect(pruned.sort()).toEqual(
      ['spec.drop', 'spec.list[0].b', 'spec.map.one.w', 'spec.open.x.gone', 'status'].sort(),
    );
  });

  it('keeps the top-level fields it is told to keep, whole', () => {
    const { value } = pruneValue(
      schema,
      { metadata: { name: 'n', labels: { a: 'b' } } },
      { keep: ['metadata'] },
    );
    expect(value).toEqual({ metadata: { name: 'n', labels: { a: 'b' } } });
  });

  it('does not change its input', () => {
    const input = { spec: { drop: 1 } };
    pruneValue(schema, input);
    expect(input).toEqual({ spec: { drop: 1 } });
  });
});

describe('Schema engine: defaults', () => {
  const schema: Schema = {
    type: 'object',
    properties: {
      spec: {
        type: 'object',
        properties: {
          apply: { type: 'string', default: 'IfReady' },
          retries: { type: 'integer', default: 1 },
          ref: { type: 'object', properties: { name: { type: 'string', default: '' } } },
          nested: { type: 'object', default: {}, properties: { deep: { type: 'string', default: 'd' } } },
          items: {
            type: 'array',
            items: { type: 'object', properties: { k: { type: 'string', default: 'v' } } },
          },
          maybe: { type: 'string', nullable: true, default: 'm' },
        },
      },
    },
  };

  it.each([
    {
      why: 'fills missing fields of objects that are there, and defaults inside defaults',
      value: { spec: { ref: {}, items: [{}, { k: 'x' }] } },
      expected: {
        spec: {
          apply: 'IfReady',
          retries: 1,
          ref: { name: '' },
          nested: { deep: 'd' },
          items: [{ k: 'v' }, { k: 'x' }],
          maybe: 'm',
        },
      },
    },
    {
      why: 'keeps what is set, and replaces null only where null is not allowed',
      value: { spec: { apply: 'Always', retries: null, maybe: null } },
      expected: { spec: { apply: 'Always', retries: 1, nested: { deep: 'd' }, maybe: null } },
    },
    { why: 'creates no object just to hold defaults', value: {}, expected: {} },
  ])('$why', ({ value, expected }) => {
    expect(applyDefaults(schema, value)).toEqual(expected);
  });

  it('does not share the default between values', () => {
    const a = applyDefaults(schema, { spec: {} }) as { spec: { nested: { deep: string } } };
    a.spec.nested.deep = 'changed';
    expect((applyDefaults(schema, { spec: {} }) as typeof a).spec.nested.deep).toBe('d');
  });
});

describe('Schema engine: refine', () => {
  it('adds keywords at property paths without touching the original', () => {
    const base: Schema = {
      type: 'object',
      properties: {
        list: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' } } } },
      },
    };
    const refined = refineSchema(base, { 'list[].name': { maxLength: 3 }, '': { required: ['list'] } });
    expect(errorsOf(refined, { list: [{ name: 'abcd' }] })).toEqual([
      'list[0].name: Too long: "abcd": may not be more than 3 characters',
    ]);
    expect(errorsOf(refined, {})).toEqual(['list: Required value']);
    expect(errorsOf(base, { list: [{ name: 'abcd' }] })).toEqual([]);
    expect(() => refineSchema(base, { 'nope.name': {} })).toThrow(/no property nope/);
  });

  it('refines one place of a node the schema shares between places, not all of them', () => {
    const name: Schema = { type: 'string' };
    const shared: Schema = { type: 'object', properties: { a: name, b: name } };
    const refined = refineSchema(shared, { a: { maxLength: 1 } });
    expect(errorsOf(refined, { a: 'xy', b: 'xy' })).toEqual([
      'a: Too long: "xy": may not be more than 1 characters',
    ]);
  });
});

// Field names come from whoever sends the object; JavaScript objects inherit `constructor`,
// `toString`, `__proto__`... A schema declares a field only by its own `properties`, and a value
// has a field only when it is its own.
describe('Schema engine: field names that objects inherit', () => {
  const schema: Schema = { type: 'object', required: ['name'], properties: { name: { type: 'string' } } };
  const inherited = ['constructor', 'toString', 'hasOwnProperty', '__proto__'];

  it.each(inherited)('forbids an undeclared field named %s', (key) => {
    const value = JSON.parse(`{"name": "n", "${key}": 1}`);
    expect(errorsOf(schema, value, { unknownFields: 'reject' })).toEqual([
      `${key}: Forbidden: field not declared in schema`,
    ]);
  });

  it.each(inherited)('prunes an undeclared field named %s, and says so', (key) => {
    const { value, pruned } = pruneValue(schema, JSON.parse(`{"name": "n", "${key}": 1}`));
    expect(pruned).toEqual([key]);
    expect(Object.keys(value)).toEqual(['name']);
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
  });

  it('keeps a declared field named __proto__ as a field, not as the prototype', () => {
    const s: Schema = { type: 'object', properties: { ['__proto__']: { type: 'object' } } };
    const input = JSON.parse('{"__proto__": {"polluted": true}}');
    const { value } = pruneValue(s, input);
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.hasOwn(value, '__proto__')).toBe(true);
    expect((value as { polluted?: boolean }).polluted).toBeUndefined();
  });

  it('does not count an inherited member as a required field', () => {
    const s: Schema = {
      type: 'object',
      required: ['toString'],
      properties: { ['toString' as string]: { type: 'string' } },
    };
    expect(errorsOf(s, {})).toEqual(['toString: Required value']);
  });

  it('fills the default of a field whose name objects inherit', () => {
    const s: Schema = {
      type: 'object',
      properties: { ['constructor' as string]: { type: 'string', default: 'c' } },
    };
    expect(applyDefaults(s, {})).toEqual({ constructor: 'c' });
  });

  it('ignores a format whose name objects inherit, like any format it does not know', () => {
    expect(errorsOf({ type: 'string', format: 'constructor' }, 'x')).toEqual([]);
  });
});
