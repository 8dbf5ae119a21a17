import t from 'tap';
import { enabledRules, RULE_IDS, type RuleId } from '../../src/masking/rules.js';
import { TOKEN_FORMATS } from '../../src/masking/token-formats.js';
import { compileValuePatterns as compile, entropy, type TextMasker } from '../../src/masking/value-patterns.js';

/** The value rules of `rules` on a text alone, as the policy runs them on a message. */
function compileValuePatterns(rules: ReadonlySet<RuleId>, replacement: string): TextMasker {
  const patterns = compile(rules, replacement);
  return (text) => patterns.mask(text, { text });
}

const DEFAULTS = enabledRules([]);
const maskText = compileValuePatterns(DEFAULTS, '****');
const only = (...rules: RuleId[]) => compileValuePatterns(new Set(rules), '****');

const JWT = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';

t.test('masks bearer tokens, keeping the word Bearer, with a space, a colon, = or %20', async (t) => {
  t.equal(maskText('Authorization: Bearer sk_live_51H8abcdefghijklmnop'), 'Authorization: Bearer ****');
  t.equal(maskText('bearer abc.def-ghi~jkl+mno/pqr== trailing'), 'bearer **** trailing');
  t.equal(maskText('BEARER\tx9'), 'BEARER\t****');
  t.equal(maskText('"Bearer  tok3n", next'), '"Bearer  ****", next');
  t.equal(maskText('Bearer:abc123'), 'Bearer:****', 'a colon and no space');
  t.equal(maskText('Bearer: abc123'), 'Bearer: ****');
  t.equal(maskText('auth=Bearer%20abc123&x=1'), 'auth=Bearer%20****&x=1', 'URL-encoded');
  t.equal(maskText('Bearers are people'), 'Bearers are people', 'the word alone, no token');
  t.equal(maskText('xBearer tok'), 'xBearer tok', 'part of another word');
  t.equal(maskText('Bearer'), 'Bearer');
  t.equal(maskText('Bearer ****'), 'Bearer ****', 'already masked');
  t.equal(maskText('Bearer abcdefghijklmnopqrstuvwxyz'), 'Bearer ****', 'a long token of letters');
  for (const prose of ['Bearer token expired', 'missing bearer token', 'Bearer Authentication failed', 'WWW-Authenticate: Bearer realm="api", error="invalid_token"', 'token_type=Bearer expires_in=3600']) {
    t.equal(maskText(prose), prose, prose);
  }
});

t.test('masks Basic credentials only when they decode to user:password', async (t) => {
  const credentials = Buffer.from('admin:correct horse').toString('base64');
  t.equal(maskText(`Authorization: Basic ${credentials}`), 'Authorization: Basic ****');
  t.equal(maskText(`basic:${Buffer.from('u:p').toString('base64')}`), 'basic:****');
  t.equal(maskText(`Basic ${Buffer.from('apikey:').toString('base64')}`), 'Basic ****', 'an API key as the user, no password');
  t.equal(maskText('Basic setup complete'), 'Basic setup complete', 'an English word');
  t.equal(maskText('Basic auth disabled for tenant'), 'Basic auth disabled for tenant');
  t.equal(maskText(`Basic ${Buffer.from('no colon here').toString('base64')}`), `Basic ${Buffer.from('no colon here').toString('base64')}`);
});

t.test('masks JSON Web Tokens, also glued to the word before', async (t) => {
  t.equal(maskText(`token=${JWT}; path=/`), 'token=****; path=/');
  t.equal(maskText(`"${JWT}"`), '"****"');
  t.equal(maskText('eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.'), '****', 'unsigned JWT');
  t.equal(maskText(`token${JWT}`), 'token****', 'glued to a word');
  t.equal(maskText(`id_token:${JWT}`), 'id_token:****');
  t.equal(maskText('eyJhbGciOiJub25lIn0 only'), 'eyJhbGciOiJub25lIn0 only', 'a header alone');
  t.equal(maskText('eyJhbGciOiJub25lIn0.onlytwo'), 'eyJhbGciOiJub25lIn0.onlytwo', 'two parts are not a JWT');
});

t.test('masks the password of URL credentials, keeping scheme, user and host', async (t) => {
  t.equal(maskText('postgres://admin:s3cr3t@db/orders'), 'postgres://admin:****@db/orders');
  t.equal(maskText('dsn=mysql://root:pa$$w0rd@10.0.0.5:3306/app?ssl=true'), 'dsn=mysql://root:****@10.0.0.5:3306/app?ssl=true');
  t.equal(maskText('https://user:p4ss@host.example.com/x'), 'https://user:****@host.example.com/x');
  t.equal(maskText('redis://:hunter2@cache:6379/0'), 'redis://:****@cache:6379/0', 'no user');
  t.equal(maskText('amqp://guest:gu@st/x@rabbit:5672'), 'amqp://guest:****@rabbit:5672', 'a password holding @ and /');
  t.equal(maskText('mongodb+srv://app:pw@cluster0.mongodb.net/db'), 'mongodb+srv://app:****@cluster0.mongodb.net/db');
  t.equal(maskText('url "https:\\/\\/u:secretpw@h\\/p"'), 'url "https:\\/\\/u:****@h\\/p"', 'slashes escaped by a JSON encoder');
  for (const kept of ['https://host:8080/path?email=a@b.com', 'https://user@host/x', 'http://host:8080', 'see https://example.com/a:b@c', 'ssh git@github.com:org/repo']) {
    t.equal(maskText(kept), kept, kept);
  }
});

t.test('masks PEM private keys to their END line, or to the end when cut', async (t) => {
  const body = 'MIIEowIBAAKCAQEAx4Ul\nZmFrZSBrZXkgbWF0ZXJpYWw=\n';
  t.equal(maskText(`key:\n-----BEGIN RSA PRIVATE KEY-----\n${body}-----END RSA PRIVATE KEY-----\nnext`), 'key:\n-----BEGIN RSA PRIVATE KEY-----****-----END RSA PRIVATE KEY-----\nnext');
  t.equal(maskText(`-----BEGIN PRIVATE KEY-----\\n${body.replace(/\n/g, '\\n')}-----END PRIVATE KEY-----`), '-----BEGIN PRIVATE KEY-----****-----END PRIVATE KEY-----', 'newlines escaped');
  t.equal(maskText('-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA'), '-----BEGIN OPENSSH PRIVATE KEY-----****', 'cut short');
  t.equal(maskText('-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF\n-----END PGP PRIVATE KEY BLOCK-----'), '-----BEGIN PGP PRIVATE KEY BLOCK-----****-----END PGP PRIVATE KEY BLOCK-----');
  const certificate = '-----BEGIN CERTIFICATE-----\nMIIDXTCCAkWgAwIBAgIJAJC1\n-----END CERTIFICATE-----';
  t.equal(maskText(certificate), certificate, 'a certificate is public');
  t.equal(maskText('PRIVATE_KEY=MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7'), 'PRIVATE_KEY=****', 'PKCS#8 in base64 without PEM lines');
  t.equal(maskText('k MHcCAQEEIIrYSSNQFaA2Hwf1duRSxKtLYX5CB04fSeQ6tF1aY/PuoAoGCCqGSM49'), 'k ****', 'SEC1 EC');
});

t.test('masks credentials of well-known formats, keeping their type prefix', async (t) => {
  const cases: Array<[string, string]> = [
    ['AKIAIOSFODNN7EXAMPLE', 'AKIA****'],
    ['ASIAY34FZKBOKMUTVV7A', 'ASIA****'],
    ['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', 'ghp_****'],
    ['gho_16C7e42F292c6912E7710c838347Ae178B4a', 'gho_****'],
    [`github_pat_11ABCDEFG0${'a1B2c3D4e5'.repeat(8)}xy`, 'github_pat_****'],
    ['glpat-xxxxxxxxxxxxxxxxxxxx', 'glpat-****'],
    ['xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx', 'xoxb-****'],
    ['xoxp-1234567890-1234567890-1234567890123-0123456789abcdef0123456789abcdef', 'xoxp-****'],
    ['xapp-1-A0123456789-1234567890123-0123456789abcdef', 'xapp-****'],
    ['https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX', 'https://hooks.slack.com/services/****'],
    ['https://discord.com/api/webhooks/123456789012345678/abcdefghijklmnopqrstuvwxyz_ABCDEFG', 'https://discord.com/api/webhooks/123456789012345678/****'],
    ['sk_live_51H8abcdefghijklmnopqrstuv', 'sk_live_****'],
    ['rk_test_51H8abcdefghijklmnopqrstuv', 'rk_test_****'],
    ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLSYa', 'whsec_****'],
    ['AIzaSyA-abcdefghijklmnopqrstuvwxyz01234', 'AIza****'],
    ['ya29.a0AfH6SMBx-abcdefghijklmnopqrstu', 'ya29.****'],
    ['GOCSPX-abcdefghijklmnopqrstuvwx1234', 'GOCSPX-****'],
    [`sk-proj-${'Ab1_'.repeat(40)}`, 'sk-proj-****'],
    ['sk-abcdefghijklmnopqrstT3BlbkFJabcdefghijklmnopqrst', 'sk-****'],
    [`sk-ant-api03-${'aB3-'.repeat(23)}AA`, 'sk-ant-****'],
    ['npm_abcdefghijklmnopqrstuvwxyz0123456789', 'npm_****'],
    [`pypi-AgEIcHlwaS5vcmc${'CJGE1NzQx'.repeat(8)}`, 'pypi-****'],
    [`SG.${'a'.repeat(22)}.${'b'.repeat(43)}`, 'SG.****'],
    ['hvs.CAESIJ1aBcDeFgHiJkLmNoPqRsTuVwXyZ012', 'hvs.****'],
    [`dop_v1_${'a1'.repeat(32)}`, 'dop_v1_****'],
    [`shpat_${'a1b2'.repeat(8)}`, 'shpat_****'],
    ['hf_abcdefghijklmnopqrstuvwxyzABCDEFGH', 'hf_****'],
    [`glc_${'eyJvIjoiMTIzNCIsIm4iOiJ'.repeat(2)}`, 'glc_****'],
    [`glsa_${'A1b2'.repeat(8)}_0a1b2c3d`, 'glsa_****'],
    [`dapi${'0123456789abcdef'.repeat(2)}`, 'dapi****'],
    [`ATATT3xFfGF0${'a1B2_c3D4-'.repeat(18)}`, 'ATATT3****'],
    [`AGE-SECRET-KEY-1${'QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L'.repeat(2).slice(0, 58)}`, 'AGE-SECRET-KEY-1****'],
    [`PMAK-${'a1'.repeat(12)}-${'b2'.repeat(17)}`, 'PMAK-****'],
    [`lin_api_${'aB3'.repeat(13)}x`, 'lin_api_****'],
    [`NRAK-${'A1B'.repeat(9)}`, 'NRAK-****'],
    [`sntryu_${'0a'.repeat(32)}`, 'sntryu_****'],
    [`dp.st.prd.${'aB3'.repeat(14)}x`, 'dp.st.****'],
    [`pul-${'0a'.repeat(20)}`, 'pul-****'],
    [`sq0atp-${'aB3-_'.repeat(5)}`, 'sq0atp-****'],
    [`secret_${'aB3'.repeat(14)}x`, 'secret_****'],
    [`sbp_${'0a'.repeat(20)}`, 'sbp_****'],
    [`fo1_${'aB3_-'.repeat(9)}`, 'fo1_****'],
    [`nfp_${'aB3'.repeat(12)}`, 'nfp_****'],
    [`https://api.telegram.org/bot1234567890:AAH${'aB3_-'.repeat(7)}/sendMessage`, 'https://api.telegram.org/bot1234567890:****/sendMessage'],
  ];
  for (const [token, masked] of cases) t.equal(maskText(`x=${token} y`), `x=${masked} y`, token.slice(0, 16));
  t.equal(maskText('AKIAIOSFODNN7EXAMPLEX'), 'AKIAIOSFODNN7EXAMPLEX', 'too long for an AWS key id');
  t.equal(maskText('pk_live_51H8abcdefghijklmnopqrstuv'), 'pk_live_51H8abcdefghijklmnopqrstuv', 'a publishable Stripe key is public');
  t.equal(maskText('ghp_short'), 'ghp_short', 'a prefix without its body');
  t.equal(maskText('sk-abcdefghijklmnopqrstuvwxyzabcdefghijklmnop'), 'sk-abcdefghijklmnopqrstuvwxyzabcdefghijklmnop', 'sk- without the OpenAI mark');
  t.equal(maskText('x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'), 'x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', 'inside a word');
  t.ok(TOKEN_FORMATS.every((f) => RULE_IDS.includes(f.rule)));
});

t.test('masks an AWS secret key where AWS is named or a key id is near', async (t) => {
  const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
  t.equal(maskText(`AKIAIOSFODNN7EXAMPLE ${secret}`), 'AKIA**** ****');
  t.equal(maskText(`aws secret ${secret}`), 'aws secret ****');
  t.equal(maskText(`blob ${secret}`), `blob ${secret}`, 'no AWS anchor');
  const sha = 'da39a3ee5e6b4b0d3255bfef95601890afd80709';
  t.equal(maskText(`aws commit ${sha}`), `aws commit ${sha}`, 'a git SHA is hex');
  t.equal(maskText(`aws path ${'abcdefghij'.repeat(4)}`), `aws path ${'abcdefghij'.repeat(4)}`, 'low entropy');
  t.ok(entropy(secret) > 4.2);
  t.ok(entropy('aaaaaaaaaa') === 0);
});

t.test('e-mail addresses in text are masked only when switched on', async (t) => {
  t.equal(maskText('from jane.doe@example.com'), 'from jane.doe@example.com');
  t.equal(only('email-address')('from jane.doe@example.com to x@y.io.'), 'from j******e@example.com to *@y.io.');
});

t.test('each rule can be switched off alone', async (t) => {
  const text = `c 4111111111111111 b Bearer t0k j ${JWT} g 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`;
  const without = (rule: RuleId) => compileValuePatterns(new Set([...DEFAULTS].filter((r) => r !== rule)), '****')(text);
  t.equal(without('card-number'), 'c 4111111111111111 b Bearer **** j **** g ghp_****');
  t.equal(without('bearer-token'), 'c ****1111 b Bearer t0k j **** g ghp_****');
  t.equal(without('jwt'), `c ****1111 b Bearer **** j ${JWT} g ghp_****`);
  t.equal(without('github-token'), 'c ****1111 b Bearer **** j **** g 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');
  t.equal(compileValuePatterns(new Set(), '****')(text), text, 'no rules, no change');
  t.equal(compileValuePatterns(DEFAULTS, '[redacted]')('Bearer x1 4111111111111111'), 'Bearer [redacted] [redacted]1111', 'the configured replacement');
});

t.test('every rule finishes on 100 kB of input made to make it backtrack', async (t) => {
  const all = compileValuePatterns(new Set(RULE_IDS), '****');
  const hostile: Record<string, string> = {
    digits: '1'.repeat(100_000),
    spacedDigits: '1 '.repeat(50_000),
    almostJwt: 'eyJ'.repeat(33_000),
    jwtNoSecondDot: `eyJa.${'b'.repeat(100_000)}`,
    dots: 'eyJa.'.repeat(20_000),
    bearers: 'Bearer '.repeat(14_000),
    bearerSpaces: `Bearer${' '.repeat(100_000)}`,
    basics: 'Basic dXNl '.repeat(9_000),
    urls: 'a://b:c'.repeat(14_000),
    urlNoAt: `x://u:${'p'.repeat(100_000)}`,
    pems: '-----BEGIN PRIVATE KEY-----'.repeat(3_600),
    prefixes: 'ghp_xoxb-AKIAsk_live_'.repeat(4_700),
    base64: 'A/b+'.repeat(25_000) + ' aws',
    withoutTheirMark: 'sk-'.repeat(33_000),
    emails: 'a.'.repeat(50_000),
    ats: 'a@'.repeat(50_000),
    mixed: 'Bearer 4111 eyJ 1- ://x:y ghp_ '.repeat(3_000),
  };
  for (const [name, text] of Object.entries(hostile)) t.type(all(text), 'string', name);
});
