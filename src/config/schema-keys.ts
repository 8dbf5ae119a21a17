/**
 * The config schema as a list of key paths. The environment variable names, the configuration
 * reference (docs/configuration.md) and the check that config.yaml documents every key all derive
 * from this walk, so none of them can name a key the schema does not have.
 */
import { ConfigSchema } from './schema.js';

/** The part of JSON Schema the config schema uses (TypeBox emits plain JSON Schema). */
export interface SchemaNode {
  readonly type?: string;
  readonly properties?: Readonly<Record<string, SchemaNode>>;
  readonly required?: readonly string[];
  readonly patternProperties?: Readonly<Record<string, SchemaNode>>;
  readonly propertyNames?: SchemaNode;
  readonly items?: SchemaNode;
  readonly anyOf?: readonly SchemaNode[];
  readonly const?: unknown;
  readonly default?: unknown;
  readonly description?: string;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly exclusiveMinimum?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly pattern?: string;
  readonly uniqueItems?: boolean;
}

/**
 * `section`: an object with named keys; `map`: an object whose keys the operator chooses;
 * `list`: an array; `value`: a scalar or one of a set of strings.
 */
export type KeyKind = 'section' | 'map' | 'list' | 'value';

export interface SchemaKey {
  /** From the root; `*` stands for any key of a map, `[]` for any item of a list. */
  readonly segments: readonly string[];
  readonly schema: SchemaNode;
  readonly kind: KeyKind;
  /** Listed in its parent's `required` (TypeBox lists every key that has a default there too). */
  readonly required: boolean;
}

export const MAP_ENTRY = '*';
export const LIST_ITEM = '[]';

export function kindOf(node: SchemaNode): KeyKind {
  if (node.properties !== undefined) return 'section';
  if (node.patternProperties !== undefined) return 'map';
  if (node.type === 'array') return 'list';
  return 'value';
}

/** The schema of every value of a map (TypeBox records have exactly one pattern). */
export function mapValueSchema(node: SchemaNode): SchemaNode {
  const [value] = Object.values(node.patternProperties ?? {});
  if (value === undefined) throw new TypeError('not a map schema');
  return value;
}

/** The allowed strings of a union of literals, or undefined for any other schema. */
export function enumValues(node: SchemaNode): string[] | undefined {
  if (node.anyOf === undefined || !node.anyOf.every((branch) => typeof branch.const === 'string')) return undefined;
  return node.anyOf.map((branch) => String(branch.const));
}

/** Every key of the config schema, depth first in declaration order, including keys inside map entries and list items. */
export function schemaKeys(): SchemaKey[] {
  const keys: SchemaKey[] = [];
  const visitSection = (node: SchemaNode, segments: readonly string[]): void => {
    for (const [name, child] of Object.entries(node.properties ?? {})) {
      const childSegments = [...segments, name];
      keys.push({ segments: childSegments, schema: child, kind: kindOf(child), required: node.required?.includes(name) ?? false });
      visitInside(child, childSegments);
    }
  };
  const visitInside = (node: SchemaNode, segments: readonly string[]): void => {
    const kind = kindOf(node);
    if (kind === 'section') visitSection(node, segments);
    else if (kind === 'map') visitInside(mapValueSchema(node), [...segments, MAP_ENTRY]);
    else if (kind === 'list' && node.items !== undefined) visitInside(node.items, [...segments, LIST_ITEM]);
  };
  visitSection(ConfigSchema, []);
  return keys;
}
