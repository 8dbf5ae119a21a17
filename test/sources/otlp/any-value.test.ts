import t from 'tap';
import { normalizeLabelName } from '../../../src/sources/otlp/any-value.js';
import { grpcCode } from '../../../src/sources/otlp/export-answer.js';

t.test("attribute names become label names as Prometheus' otlptranslator makes them", async (t) => {
  const cases: Array<[string, string]> = [
    ['service.name', 'service_name'],
    ['k8s.pod.name', 'k8s_pod_name'],
    ['http.request.header.x-forwarded-for', 'http_request_header_x_forwarded_for'],
    ['2xx.count', 'key_2xx_count'],
    ['_private', 'key_private'],
    ['__reserved', '__reserved'],
    ['café.rating', 'café_rating'],
    ['', ''],
  ];
  for (const [name, label] of cases) t.equal(normalizeLabelName(name), label, name);
});

t.test('every HTTP status maps to the google.rpc.Code OTLP clients record', async (t) => {
  t.same(
    [400, 401, 403, 404, 405, 408, 413, 415, 429, 431, 500, 503, 504, 418].map(grpcCode),
    [3, 16, 7, 5, 12, 4, 8, 3, 8, 8, 13, 14, 4, 2],
  );
});
