import t from 'tap';
import { keepPrefix, keepScheme, maskCookies, maskEmail } from '../../src/masking/partial-masks.js';

t.test('keep_prefix keeps N code points then the replacement', async (t) => {
  t.equal(keepPrefix('Bearer sk_live_abc', 5, '****'), 'Beare****');
  t.equal(keepPrefix('😀😁😂🤣😃', 2, '****'), '😀😁****', 'surrogate pairs are one character');
  t.equal(keepPrefix('日本語のテキスト', 3, '#'), '日本語#');
  t.equal(keepPrefix('abcde', 5, '****'), '****', 'a value no longer than N is replaced whole');
  t.equal(keepPrefix('abc', 5, '****'), '****');
  t.equal(keepPrefix('😀😁', 2, '****'), '****');
  t.equal(keepPrefix('', 3, '****'), '****');
  t.equal(keepPrefix('abcdef', 5, '****'), 'abcde****');
});

t.test('mask_email keeps the first and last character of the local part and the domain', async (t) => {
  t.equal(maskEmail('jane.doe@example.com', '****'), 'j******e@example.com');
  t.equal(maskEmail('abc@x.io', '****'), 'a*c@x.io');
  t.equal(maskEmail('ab@x.io', '****'), '**@x.io', 'two characters: all stars');
  t.equal(maskEmail('a@x.io', '****'), '*@x.io', 'one character: all stars');
  t.equal(maskEmail('jürgen.müller@beispiel.de', '****'), 'j***********r@beispiel.de');
  t.equal(maskEmail('😀abc😁@x.io', '****'), '😀***😁@x.io', 'code points, not UTF-16 units');
  t.equal(maskEmail('user+tag@sub.example.com', '****'), 'u******g@sub.example.com');
  for (const notEmail of ['', 'jane.doe', '@example.com', 'jane@', 'a@b@c.com', 'jane doe@example.com', 'Jane <jane@example.com>', 'jane@exa mple.com']) {
    t.equal(maskEmail(notEmail, '****'), '****', JSON.stringify(notEmail));
  }
});

t.test('an Authorization value keeps its scheme', async (t) => {
  t.equal(keepScheme('Bearer abc.def', '****'), 'Bearer ****');
  t.equal(keepScheme('Basic  dXNlcjpwYXNz', '****'), 'Basic  ****');
  t.equal(keepScheme('Digest username="a", response="b"', '****'), 'Digest ****');
  t.equal(keepScheme('AWS4-HMAC-SHA256 Credential=AKIA/x', '****'), 'AWS4-HMAC-SHA256 ****');
  t.equal(keepScheme('abc123', '****'), '****', 'no scheme: replaced whole');
  t.equal(keepScheme('Bearer', '****'), '****', 'a scheme without credentials');
  t.equal(keepScheme('Bearer ', '****'), '****');
});

t.test('a Cookie or Set-Cookie value keeps cookie names and attributes', async (t) => {
  t.equal(maskCookies('sid=abc; theme=dark', '****'), 'sid=****; theme=****');
  t.equal(maskCookies('sid=abc; Path=/; Expires=Wed, 21 Oct 2026 07:28:00 GMT; HttpOnly; Secure; SameSite=Lax', '****'), 'sid=****; Path=/; Expires=Wed, 21 Oct 2026 07:28:00 GMT; HttpOnly; Secure; SameSite=Lax');
  t.equal(maskCookies('a=1; Path=/, b=2; Max-Age=60', '****'), 'a=****; Path=/, b=****; Max-Age=60', 'two Set-Cookie headers joined by a comma');
  t.equal(maskCookies('opaque-value-without-name', '****'), '****', 'a bare value');
  t.equal(maskCookies('empty=; other=x', '****'), 'empty=; other=****', 'an empty value stays empty');
  t.equal(maskCookies('', '****'), '');
});
