// Validates docs/openapi.yaml with a real OpenAPI validator (@apidevtools/swagger-parser, pinned in
// tests/contract/package-lock.json): the document against the OpenAPI schema, every $ref resolved,
// every path parameter declared. Exit 0 and one line when valid; exit 1 naming the problem.
//
// Run by CTest (api.spec_valid): node tests/contract/validate_spec.mjs [spec]
import SwaggerParser from '@apidevtools/swagger-parser';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const spec = process.argv[2] ?? join(here, '..', '..', 'docs', 'openapi.yaml');
try {
  const api = await SwaggerParser.validate(spec);
  const operations = Object.values(api.paths).flatMap((item) => Object.keys(item).filter((k) => k !== 'parameters'));
  console.log(`${spec}: valid OpenAPI ${api.openapi}, API version ${api.info.version}, ` +
              `${Object.keys(api.paths).length} paths, ${operations.length} operations`);
} catch (error) {
  console.error(`${spec}: not a valid OpenAPI document:\n${error.message}`);
  process.exit(1);
}
