import fc from 'fast-check';
import t from 'tap';
import { parseTimestamp, type TimestampParse } from '../../src/pipeline/timestamp.js';

function epoch(text: string): { seconds: number; nanos: number } {
  const parsed: TimestampParse = parseTimestamp(text);
  if (!parsed.ok) throw new Error(`${text} refused: ${parsed.reason}`);
  return { seconds: parsed.seconds, nanos: parsed.nanos };
}

function reasonOf(text: string): string {
  const parsed = parseTimestamp(text);
  if (parsed.ok) throw new Error(`${text} accepted`);
  return parsed.reason;
}

t.test('parses UTC timestamps to epoch seconds and nanoseconds', async (t) => {
  t.same(epoch('2025-09-24T12:00:00Z'), { seconds: 1758715200, nanos: 0 });
  t.same(epoch('2025-09-24T12:00:00.000Z'), { seconds: 1758715200, nanos: 0 });
  t.same(epoch('1970-01-01T00:00:00Z'), { seconds: 0, nanos: 0 });
  t.same(epoch('2000-02-29T23:59:59Z'), { seconds: 951868799, nanos: 0 });
  t.same(epoch('9999-12-31T23:59:59Z'), { seconds: 253402300799, nanos: 0 });
});

t.test('keeps every fraction digit up to the nanosecond', async (t) => {
  t.same(epoch('2025-09-24T12:00:00.1Z').nanos, 100_000_000);
  t.same(epoch('2025-09-24T12:00:00.123Z').nanos, 123_000_000);
  t.same(epoch('2025-09-24T12:00:00.123456Z').nanos, 123_456_000);
  t.same(epoch('2025-09-24T12:00:00.123456789Z').nanos, 123_456_789);
  t.same(epoch('2025-09-24T12:00:00.000000001Z').nanos, 1);
  t.match(reasonOf('2025-09-24T12:00:00.1234567891Z'), /more than 9 fraction digits/);
  t.match(reasonOf('2025-09-24T12:00:00.Z'), /RFC 3339/);
});

t.test('applies the zone offset', async (t) => {
  const utc = epoch('2025-09-24T12:00:00Z').seconds;
  t.equal(epoch('2025-09-24T14:00:00+02:00').seconds, utc);
  t.equal(epoch('2025-09-24T06:30:00-05:30').seconds, utc);
  t.equal(epoch('2025-09-24T12:00:00-00:00').seconds, utc);
  t.equal(epoch('2025-09-25T11:59:00+23:59').seconds, utc);
  t.same(epoch('2025-09-24T14:00:00.5+02:00'), { seconds: utc, nanos: 500_000_000 });
  t.equal(epoch('2025-01-01T00:30:00+01:00').seconds, epoch('2024-12-31T23:30:00Z').seconds, 'an offset may cross a year');
});

t.test('accepts the lower-case t and z that RFC 3339 allows', async (t) => {
  t.same(epoch('2025-09-24t12:00:00z'), epoch('2025-09-24T12:00:00Z'));
});

t.test('refuses a timestamp without a zone', async (t) => {
  t.match(reasonOf('2025-09-24T12:00:00'), /no time zone/);
  t.match(reasonOf('2025-09-24T12:00:00.123'), /no time zone/);
});

t.test('refuses dates and times that do not exist', async (t) => {
  t.match(reasonOf('2025-02-29T00:00:00Z'), /day/, 'not a leap year');
  t.match(reasonOf('1900-02-29T00:00:00Z'), /day/, 'century not divisible by 400');
  t.ok(parseTimestamp('2024-02-29T00:00:00Z').ok, 'leap year');
  t.ok(parseTimestamp('2000-02-29T00:00:00Z').ok, 'century divisible by 400');
  t.match(reasonOf('2025-02-30T00:00:00Z'), /day/);
  t.match(reasonOf('2025-04-31T00:00:00Z'), /day/);
  t.match(reasonOf('2025-09-00T00:00:00Z'), /day/);
  t.match(reasonOf('2025-00-10T00:00:00Z'), /month/);
  t.match(reasonOf('2025-13-10T00:00:00Z'), /month/);
  t.match(reasonOf('2025-09-24T24:00:00Z'), /hour/);
  t.match(reasonOf('2025-09-24T12:60:00Z'), /minute/);
  t.match(reasonOf('2025-09-24T12:00:60Z'), /leap seconds/);
  t.match(reasonOf('2025-09-24T12:00:00+24:00'), /offset/);
  t.match(reasonOf('2025-09-24T12:00:00+02:60'), /offset/);
});

t.test('refuses what Date.parse would let through', async (t) => {
  for (const text of [
    '',
    '2025',
    '2025-09-24',
    '2025-09-24 12:00:00Z',
    '2025-9-24T12:00:00Z',
    '2025-09-24T1:00:00Z',
    '2025-09-24T12:00Z',
    '+002025-09-24T12:00:00Z',
    '2025-09-24T12:00:00 Z',
    '2025-09-24T12:00:00ZZ',
    '2025-09-24T12:00:00+0200',
    '2025-09-24T12:00:00+02',
    '2025-09-24T12:00:00+02:00:00',
    '2025-09-24T12:00:00UTC',
    '2025-09-24T12:00:00GMT+2',
    'Wed, 24 Sep 2025 12:00:00 GMT',
    '２０２５-09-24T12:00:00Z',
    '2025-09-24T12:00:00.12a3Z',
    '2025-09-24T12:00:00,123Z',
    '-025-09-24T12:00:00Z',
  ]) {
    t.notOk(parseTimestamp(text).ok, JSON.stringify(text));
  }
});

t.test('agrees with Date on every valid instant, offset and fraction (property)', async (t) => {
  fc.assert(
    fc.property(
      fc.date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true }),
      fc.integer({ min: 0, max: 999_999 }),
      fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 }),
      (date, subMilliNanos, offsetMinutes) => {
        const ms = date.getTime();
        const local = new Date(ms + offsetMinutes * 60_000);
        if (local.getUTCFullYear() < 1 || local.getUTCFullYear() > 9999) return;
        const sign = offsetMinutes < 0 ? '-' : '+';
        const abs = Math.abs(offsetMinutes);
        const zone = `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
        const nanos = (((ms % 1000) + 1000) % 1000) * 1e6 + subMilliNanos;
        const text = `${local.toISOString().slice(0, 19)}.${String(nanos).padStart(9, '0')}${zone}`;
        const parsed = epoch(text);
        if (parsed.seconds !== Math.floor(ms / 1000) || parsed.nanos !== nanos) throw new Error(`${text} → ${JSON.stringify(parsed)}`);
      },
    ),
    { numRuns: 2000 },
  );
  t.pass('2000 random timestamps agree');
});
