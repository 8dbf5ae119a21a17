import t from 'tap';
import { printable } from '../../src/cli/text-format.js';

t.test('printable writes every terminal control as an escape and leaves the rest', async (t) => {
  t.equal(printable('plain text, ünïcödé, 日本語, emoji 🚀'), 'plain text, ünïcödé, 日本語, emoji 🚀');
  t.equal(printable('\x1b[31mred\x1b[0m'), '\\x1b[31mred\\x1b[0m');
  t.equal(printable('\x00\x07\x08\t\n\r\x7f'), '\\x00\\x07\\x08\\x09\\x0a\\x0d\\x7f');
  t.equal(printable('\x80\x9b\x9f\xa0'), '\\x80\\x9b\\x9f\xa0', 'C1 controls, not the no-break space after them');
  t.equal(printable('\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069'), '\\u202a\\u202b\\u202c\\u202d\\u202e\\u2066\\u2067\\u2068\\u2069');
  t.equal(printable('\u2029\u2065\u206a'), '\u2029\u2065\u206a', 'neighbours of the bidi controls stay');
  t.equal(printable('two\nlines\x1b', true), 'two\nlines\\x1b', 'our own newlines kept when asked');
});
