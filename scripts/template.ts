/**
 * template.yaml as data: the CloudFormation short-form tags (`!Ref`, `!Sub`, `!GetAtt`, `!If`, ...)
 * become their long forms (`{Ref}`, `{"Fn::Sub"}`, ...), so tests and the build read exactly what
 * `sam build` reads.
 */
import { readFileSync } from 'node:fs';
import { type CollectionTag, parse, type ScalarTag, type YAMLMap, type YAMLSeq } from 'yaml';

const FUNCTIONS: Record<string, string> = {
  Ref: 'Ref',
  Condition: 'Condition',
  Sub: 'Fn::Sub',
  GetAtt: 'Fn::GetAtt',
  If: 'Fn::If',
  Join: 'Fn::Join',
  Equals: 'Fn::Equals',
  Not: 'Fn::Not',
  And: 'Fn::And',
  Or: 'Fn::Or',
  Select: 'Fn::Select',
  Split: 'Fn::Split',
  FindInMap: 'Fn::FindInMap',
  Base64: 'Fn::Base64',
  Cidr: 'Fn::Cidr',
  ImportValue: 'Fn::ImportValue',
  GetAZs: 'Fn::GetAZs',
  Transform: 'Fn::Transform',
};

const CFN_TAGS: Array<ScalarTag | CollectionTag> = Object.entries(FUNCTIONS).flatMap(
  ([short, long]): Array<ScalarTag | CollectionTag> => [
    {
      tag: `!${short}`,
      resolve: (s: string) => ({ [long]: short === 'GetAtt' ? s.split(/\.(.*)/s, 2) : s }),
    },
    ...(['seq', 'map'] as const).map(
      (collection): CollectionTag => ({
        tag: `!${short}`,
        collection,
        resolve: (node: YAMLMap.Parsed | YAMLSeq.Parsed) => ({ [long]: node.toJSON() }),
      }),
    ),
  ],
);

export interface Template {
  Parameters?: Record<string, Record<string, unknown>>;
  Conditions?: Record<string, unknown>;
  Globals?: Record<string, Record<string, unknown>>;
  Resources: Record<
    string,
    {
      Type: string;
      Condition?: string;
      Metadata?: Record<string, unknown>;
      Properties?: Record<string, unknown>;
    }
  >;
  Outputs?: Record<string, { Value: unknown }>;
}

export function parseTemplate(text: string): Template {
  return parse(text, { customTags: CFN_TAGS, maxAliasCount: -1 }) as Template;
}

export function loadTemplate(path = 'template.yaml'): Template {
  return parseTemplate(readFileSync(path, 'utf8'));
}

/** An EventBridge rule as EventBridge applies it: the event pattern and the input transformer. */
export interface EventBridgeRule {
  Pattern: Record<string, unknown>;
  InputTransformer: { InputPathsMap?: Record<string, string>; InputTemplate: string };
}

/**
 * The rule of an `EventBridgeRule` event source (`Resources.<resource>.Properties.Events.<event>`),
 * each `{Ref: <logical id>}` in it replaced by the physical id `refs` gives (the state machine's
 * ARN, say), as the deployed rule holds it.
 */
export function eventBridgeRule(
  template: Template,
  resource: string,
  event: string,
  refs: Record<string, string> = {},
): EventBridgeRule {
  const events = template.Resources[resource]?.Properties?.Events as
    | Record<string, { Properties?: { Pattern?: unknown; InputTransformer?: unknown } }>
    | undefined;
  const props = events?.[event]?.Properties;
  if (!props?.Pattern) throw new Error(`template: ${resource} has no EventBridge rule ${event}`);
  const resolve = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(resolve);
    if (!v || typeof v !== 'object') return v;
    const ref = (v as { Ref?: unknown }).Ref;
    if (typeof ref === 'string' && refs[ref] !== undefined) return refs[ref];
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolve(x)]));
  };
  return {
    Pattern: resolve(props.Pattern) as EventBridgeRule['Pattern'],
    InputTransformer: resolve(props.InputTransformer) as EventBridgeRule['InputTransformer'],
  };
}

export interface TemplateFunction {
  logicalId: string;
  handler: string;
  /** The file `sam build` bundles (Metadata.BuildProperties.EntryPoints[0]). */
  entry: string;
  buildProperties: Record<string, unknown>;
}

export function templateFunctions(template: Template): TemplateFunction[] {
  return Object.entries(template.Resources)
    .filter(([, r]) => r.Type === 'AWS::Serverless::Function')
    .map(([logicalId, r]) => {
      const buildProperties = (r.Metadata?.BuildProperties ?? {}) as Record<string, unknown>;
      const entries = (buildProperties.EntryPoints ?? []) as string[];
      return {
        logicalId,
        handler: String(r.Properties?.Handler ?? ''),
        entry: entries[0] ?? '',
        buildProperties,
      };
    });
}
