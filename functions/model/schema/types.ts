/**
 * Kubernetes structural schemas (the OpenAPI v3 subset CustomResourceDefinitions use) and the
 * `field.Error`s the API server reports against them. Shared by the checks (engine.ts), the copies
 * (transform.ts) and the messages (values.ts).
 */

export type SchemaType = 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';

/** A structural schema node (JSONSchemaProps as CRDs write it). Unknown keywords are ignored. */
export interface Schema {
  type?: SchemaType;
  description?: string;
  properties?: Record<string, Schema>;
  /** A schema for every value of a map (k8s forbids it beside `properties`); `false` closes the object. */
  additionalProperties?: Schema | boolean;
  items?: Schema;
  required?: readonly string[];
  enum?: readonly unknown[];
  default?: unknown;
  nullable?: boolean;
  pattern?: string;
  format?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  /** OpenAPI v3.0 booleans: the bound itself is excluded. */
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  multipleOf?: number;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  minProperties?: number;
  maxProperties?: number;
  anyOf?: readonly Schema[];
  allOf?: readonly Schema[];
  oneOf?: readonly Schema[];
  not?: Schema;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: readonly string[];
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
}

/** The kinds of `field.Error` the API server reports, with its wording. */
export type SchemaErrorType =
  | 'Invalid value'
  | 'Required value'
  | 'Unsupported value'
  | 'Too long'
  | 'Too many'
  | 'Duplicate value'
  | 'Forbidden';

export interface SchemaError {
  /** Where, in the API server's notation: `spec.tls.certificates[0].alias`, `data[tls.crt]`. */
  field: string;
  type: SchemaErrorType;
  /** What was expected, in words: `must be of type string`, `supported values: "a", "b"`. */
  detail: string;
  /** The offending value as JSON, shortened to about 100 characters (absent when it adds nothing). */
  value?: string;
}
