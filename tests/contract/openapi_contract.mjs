// The API contract as a checker: docs/openapi.yaml, validated and dereferenced by
// @apidevtools/swagger-parser, with every response schema compiled by ajv in a *closed* form, so
// an answer with a field the spec does not describe fails, like a status or a content type the
// operation does not list. The spec itself stays open (no additionalProperties: false) so that
// generated clients keep working when a later minor version adds a field; only this test is strict.
//
// Used by contract_test.mjs and the other tests of tests/contract. Single-threaded (Node).
import SwaggerParser from '@apidevtools/swagger-parser';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const SPEC_PATH = join(here, '..', '..', 'docs', 'openapi.yaml');

function isObjectSchema(s) {
  return s && typeof s === 'object' && (s.type === 'object' || s.properties !== undefined);
}

// The schema with every object closed (additionalProperties: false unless the spec says what
// extra properties may be) and every allOf of objects merged into one object first (a closed
// member of an allOf would refuse the other members' fields). A response object that describes
// no fields at all is an error: the test could not tell a documented field from an undocumented one.
export function closeSchema(schema, where = '#') {
  if (Array.isArray(schema)) return schema.map((s, i) => closeSchema(s, `${where}/${i}`));
  if (!schema || typeof schema !== 'object') return schema;
  let s = { ...schema };
  if (Array.isArray(s.allOf) && s.allOf.every(isObjectSchema)) {
    const merged = { type: 'object', properties: {}, required: [] };
    for (const part of s.allOf) {
      Object.assign(merged.properties, part.properties ?? {});
      merged.required.push(...(part.required ?? []));
      if (part.additionalProperties !== undefined) merged.additionalProperties = part.additionalProperties;
    }
    if (merged.required.length === 0) delete merged.required;
    const { allOf, ...rest } = s;
    s = { ...rest, ...merged };
  }
  for (const key of ['items', 'not']) if (s[key]) s[key] = closeSchema(s[key], `${where}/${key}`);
  for (const key of ['allOf', 'oneOf', 'anyOf']) if (s[key]) s[key] = closeSchema(s[key], `${where}/${key}`);
  if (s.properties) {
    s.properties = Object.fromEntries(Object.entries(s.properties).map(([k, v]) => [k, closeSchema(v, `${where}/${k}`)]));
  }
  if (s.additionalProperties && typeof s.additionalProperties === 'object') {
    s.additionalProperties = closeSchema(s.additionalProperties, `${where}/additionalProperties`);
  }
  if (s.type === 'object' && s.additionalProperties === undefined) {
    if (!s.properties) throw new Error(`${where}: an object without properties: describe its fields in docs/openapi.yaml`);
    s.additionalProperties = false;
  }
  return s;
}

// ajv's errors with the offending property named (additionalProperties says only "must NOT have
// additional properties" otherwise).
function describe(ajv, errors) {
  return errors.map((e) => {
    const extra = e.params?.additionalProperty ? ` ('${e.params.additionalProperty}')` : '';
    return `${e.instancePath || 'the body'} ${e.message}${extra}`;
  }).join('; ');
}

export class Contract {
  static async load(specPath = SPEC_PATH) {
    const api = await SwaggerParser.validate(specPath);  // validates, then dereferences every $ref
    return new Contract(api);
  }

  constructor(api) {
    this.api = api;
    this.ajv = new Ajv({ strict: false, allErrors: true });  // strict off: `example`, `nullable`, x- keys
    addFormats(this.ajv);
    this.validators = new Map();
    this.covered = new Set();   // "GET /api/v1/jobs/{job_id} 200"
    this.checked = 0;
  }

  // A closed validator for a components/schemas entry (WebSocket and SSE event payloads).
  schemaValidator(name) {
    const key = `#schema ${name}`;
    if (!this.validators.has(key)) {
      const schema = this.api.components.schemas[name];
      if (!schema) throw new Error(`components.schemas.${name} is not in the spec`);
      this.validators.set(key, this.ajv.compile(closeSchema(schema, `#/components/schemas/${name}`)));
    }
    return this.validators.get(key);
  }

  // Throws unless `value` is a `name` (components/schemas) with no undocumented field.
  validateSchema(name, value, what) {
    const validate = this.schemaValidator(name);
    if (!validate(value)) {
      throw new Error(`${what}: not a ${name}: ${describe(this.ajv, validate.errors)}\n` +
                      `${JSON.stringify(value).slice(0, 600)}`);
    }
  }

  operation(method, template) {
    const item = this.api.paths[template];
    if (!item) throw new Error(`${template} is not a path of docs/openapi.yaml`);
    const op = item[method.toLowerCase()];
    if (!op) throw new Error(`${method} ${template} is not an operation of docs/openapi.yaml`);
    return op;
  }

  // Throws unless the answer `res` ({status, headers (lower-case names), text}) to `method`
  // `template` is one the spec documents: an explicit status of the operation (`default` does not
  // count), a content type it lists, a JSON body its schema accepts with no undocumented field, no
  // body where it lists none, and every header it marks required. Returns the parsed JSON body.
  check(method, template, res) {
    const op = this.operation(method, template);
    const status = String(res.status);
    const what = `${method} ${template} → ${status}`;
    const documented = op.responses[status];
    if (!documented) {
      throw new Error(`${what}: status not documented (the spec lists ${Object.keys(op.responses).join(', ')}): ` +
                      res.text.slice(0, 300));
    }
    this.covered.add(`${method} ${template} ${status}`);
    this.checked++;
    for (const [name, header] of Object.entries(documented.headers ?? {})) {
      if (header.required && res.headers[name.toLowerCase()] === undefined) throw new Error(`${what}: no ${name} header`);
    }
    const content = documented.content ?? {};
    const type = (res.headers['content-type'] ?? '').split(';')[0].trim();
    if (Object.keys(content).length === 0) {
      if (res.text.length !== 0) throw new Error(`${what}: a body the spec does not describe (${type}): ${res.text.slice(0, 200)}`);
      return undefined;
    }
    if (method === 'HEAD') return undefined;
    if (!(type in content)) throw new Error(`${what}: Content-Type '${type}' not documented (${Object.keys(content).join(', ')})`);
    if (type !== 'application/json') return undefined;
    let body;
    try {
      body = JSON.parse(res.text);
    } catch {
      throw new Error(`${what}: not JSON: ${res.text.slice(0, 200)}`);
    }
    const key = `${method} ${template} ${status}`;
    if (!this.validators.has(key)) {
      const schema = content[type].schema;
      if (!schema) throw new Error(`${what}: application/json without a schema`);
      this.validators.set(key, this.ajv.compile(closeSchema(schema, `${method} ${template} ${status}`)));
    }
    const validate = this.validators.get(key);
    if (!validate(body)) {
      throw new Error(`${what}: the body does not match the spec: ${describe(this.ajv, validate.errors)}\n` +
                      `${res.text.slice(0, 600)}`);
    }
    return body;
  }

  // Every "METHOD template status" the spec documents (WebSocket upgrades included).
  documented() {
    const out = [];
    for (const [template, item] of Object.entries(this.api.paths)) {
      for (const [method, op] of Object.entries(item)) {
        if (!['get', 'post', 'put', 'patch', 'delete', 'head'].includes(method)) continue;
        for (const status of Object.keys(op.responses)) out.push(`${method.toUpperCase()} ${template} ${status}`);
      }
    }
    return out;
  }
}
