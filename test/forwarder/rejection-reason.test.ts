import t from 'tap';
import { rejectionReason } from '../../src/forwarder/rejection-reason.js';

t.test("Loki's validation messages map to a bounded set of reasons", async (t) => {
  const cases: Array<[number, string, string]> = [
    [400, "entry for stream '{a=\"b\"}' has timestamp too old: 2020-01-01T00:00:00Z, oldest acceptable timestamp is: 2025-09-17T12:00:00Z", 'timestamp_too_old'],
    [400, "entry for stream '{a=\"b\"}' has timestamp too new: 2030-01-01T00:00:00Z", 'timestamp_too_new'],
    [400, "Max entry size '256000' bytes exceeded for stream '{service=\"checkout\"}' while adding an entry with length '300000' bytes", 'line_too_long'],
    [400, 'stream \'{a="b"}\' has structured metadata too large', 'structured_metadata'],
    [400, 'error at least one label pair is required per stream', 'invalid_labels'],
    [400, 'something nobody has seen', 'http_400'],
    [422, '', 'http_422'],
  ];
  for (const [status, message, reason] of cases) t.equal(rejectionReason(status, message), reason, message || String(status));
});
