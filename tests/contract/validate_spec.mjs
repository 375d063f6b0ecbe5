// Validates docs/openapi.yaml with a real OpenAPI validator (@apidevtools/swagger-parser, pinned in
// tests/contract/package-lock.json): the document against the OpenAPI schema, every $ref resolved,
// every path parameter declared. Then the house rules: every request body has an example for each
// media type, and every JSON example is valid against its schema (ajv). Exit 0 and one line when
// all holds; exit 1 naming each problem.
//
// Run by CTest (api.spec_valid): node tests/contract/validate_spec.mjs [spec]
import SwaggerParser from '@apidevtools/swagger-parser';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const spec = process.argv[2] ?? join(here, '..', '..', 'docs', 'openapi.yaml');
let api;
try {
  api = await SwaggerParser.validate(spec);
} catch (error) {
  console.error(`${spec}: not a valid OpenAPI document:\n${error.message}`);
  process.exit(1);
}

const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
const problems = [];
let operations = 0;
let examples = 0;
for (const [path, item] of Object.entries(api.paths)) {
  for (const method of ['get', 'post', 'put', 'patch', 'delete', 'head']) {
    const op = item[method];
    if (!op) continue;
    operations++;
    for (const [type, media] of Object.entries(op.requestBody?.content ?? {})) {
      const named = Object.entries(media.examples ?? {}).map(([name, e]) => [name, e.value]);
      const all = media.example !== undefined ? [['example', media.example], ...named] : named;
      if (all.length === 0) problems.push(`${method.toUpperCase()} ${path} ${type}: no example`);
      if (type !== 'application/json') continue;
      const validate = ajv.compile(media.schema);
      for (const [name, value] of all) {
        examples++;
        if (!validate(value)) {
          problems.push(`${method.toUpperCase()} ${path} example '${name}': ${ajv.errorsText(validate.errors)}`);
        }
      }
    }
  }
}
if (problems.length) {
  console.error(`${spec}:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`${spec}: valid OpenAPI ${api.openapi}, API version ${api.info.version}, ` +
            `${Object.keys(api.paths).length} paths, ${operations} operations, ${examples} JSON request examples valid`);
