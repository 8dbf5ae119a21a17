/**
 * The rule library: every secret LogStack recognises by itself, with the id an operator names it
 * by (`masking.disabled_rules`, `enabled_rules`, per key too), what finds it, what of it is kept,
 * and whether it is on without configuration. The README's masking table lists the same rules
 * (a test keeps the two in step).
 *
 * Two kinds:
 * - `key` rules judge a name: a metadata key, a label or structured metadata name, a key of a
 *   JSON line, the `name` of a `{"name": …, "value": …}` object, and the name of `name=value`,
 *   `name: value`, `"name": "value"`, `<name>value</name>` or `--name value` inside any text.
 *   The value under the name is masked, whatever it is.
 * - `value` rules recognise the secret itself, wherever it is, by a prefix or keyword anchor and,
 *   where the format has one, a checksum or a structure check.
 *
 * The detectors live beside: key-names.ts (key rules), value-patterns.ts, card-numbers.ts and
 * token-formats.ts (value rules).
 */

export const RULE_IDS = [
  'key-password',
  'key-secret',
  'key-token',
  'key-api-key',
  'key-authorization',
  'key-cookie',
  'key-session',
  'key-credentials',
  'key-signature',
  'key-card-data',
  'card-number',
  'bearer-token',
  'basic-auth',
  'jwt',
  'url-credentials',
  'private-key',
  'aws-access-key-id',
  'aws-secret-access-key',
  'github-token',
  'gitlab-token',
  'slack-token',
  'webhook-url',
  'stripe-key',
  'google-api-key',
  'google-oauth',
  'openai-api-key',
  'anthropic-api-key',
  'npm-token',
  'pypi-token',
  'sendgrid-api-key',
  'hashicorp-vault-token',
  'digitalocean-token',
  'shopify-token',
  'huggingface-token',
  'grafana-token',
  'databricks-token',
  'atlassian-api-token',
  'age-secret-key',
  'postman-api-key',
  'linear-api-key',
  'new-relic-key',
  'sentry-token',
  'doppler-token',
  'pulumi-token',
  'square-token',
  'notion-token',
  'supabase-token',
  'flyio-token',
  'netlify-token',
  'telegram-bot-token',
  'email-address',
] as const;

export type RuleId = (typeof RULE_IDS)[number];

export interface MaskingRule {
  readonly id: RuleId;
  readonly kind: 'key' | 'value';
  /** What the rule finds, for people: the README's table. */
  readonly finds: string;
  /** What of a match stays readable. */
  readonly keeps: string;
  readonly enabledByDefault: boolean;
}

function key(id: RuleId, finds: string, keeps = 'the name'): MaskingRule {
  return Object.freeze({ id, kind: 'key', finds, keeps, enabledByDefault: true });
}

function value(id: RuleId, finds: string, keeps: string, enabledByDefault = true): MaskingRule {
  return Object.freeze({ id, kind: 'value', finds, keeps, enabledByDefault });
}

const LIBRARY: readonly MaskingRule[] = [
  key('key-password', '`password`, `passwd`, `pwd`, `pass_word`, `passphrase`, `passcode`, `otp`, `pass`, `db_pass`, `PGPASSWORD`, `KEYSTORE_PASS`, `storepass`, `password_confirmation`, `user.password`; on command lines also `curl -u user:…`, `docker login -p`, `mysql -p…`, `redis-cli -a`, `sshpass -p` (a bare `pass` keeps numbers and booleans: it also counts passed tests)'),
  key('key-secret', '`secret`, `client_secret`, `clientSecret`, `jwt_secret`, `webhook_secret_value`'),
  key('key-token', '`token`, `access_token`, `refresh_token`, `id_token`, `session_token`, `X-Auth-Token`, `csrf`, `bearer` (not `tokens`, `token_type`, `max_tokens`)'),
  key('key-api-key', '`api_key`, `apikey`, `X-Api-Key`, `access_key`, `secret_key`, `private_key`, `signing_key`, `AccountKey`, `SECRET_KEY_BASE`, `Ocp-Apim-Subscription-Key` (not a bare `key`)'),
  key('key-authorization', '`authorization`, `Proxy-Authorization`, `authorisation`, `auth` (Docker\'s `config.json`, npm\'s `_auth`; a bare `auth` keeps booleans)', 'the name and the scheme (`Bearer ****`)'),
  key('key-cookie', '`cookie`, `cookies`, `Set-Cookie`', 'the name, cookie names and cookie attributes (`sid=****; Path=/; HttpOnly`)'),
  key('key-session', '`session`, `session_id`, `sessionid`, `JSESSIONID`, `PHPSESSID`, `connect.sid` (a bare `session` keeps numbers and booleans)'),
  key('key-credentials', '`credentials`, `credential`, `creds`'),
  key('key-signature', '`signature`, `sig`, `X-Amz-Signature` (signed URLs grant access until they expire)'),
  key('key-card-data', '`card_number`, `cardNumber`, `cc_number`, `credit_card`, `cvv`, `cvc`, `security_code`'),
  value('card-number', 'payment card numbers: 13–19 digits, any Unicode digits, grouped as cards are (4-4-4-4, 4-6-5, …) with spaces, dashes, dots, slashes, underscores, NBSP or invisible characters, a card network\'s first digits and the Luhn checksum; also JSON numbers (see below)', 'the last 4 digits (PCI DSS)'),
  value('bearer-token', '`Bearer <token>`, `Bearer:<token>`, `Bearer%20<token>`, any case', '`Bearer `'),
  value('basic-auth', '`Basic <base64>` whose base64 decodes to `user:password`', '`Basic `'),
  value('jwt', 'JSON Web Tokens (`eyJ…` header and payload, signature), also glued to the word before', 'nothing'),
  value('url-credentials', 'the password of `scheme://user:password@host` (`postgres://`, `https://`, `amqp://`, `redis://:password@`, …)', 'the scheme, the user and the host'),
  value('private-key', 'PEM private key blocks (`-----BEGIN … PRIVATE KEY-----` to its END line, or to the end of the text when it was cut), and DER private keys in base64 (`MIIEvQIBADANBgkqhkiG9w0BAQEFAASC…`)', 'the BEGIN and END lines'),
  value('aws-access-key-id', 'AWS access key ids: `AKIA`, `ASIA`, `ABIA`, `ACCA` + 16 characters', 'the 4-character type prefix'),
  value('aws-secret-access-key', 'AWS secret access keys: 40 base64 characters of high entropy in a text that also holds an AWS key id or the word `aws`', 'nothing'),
  value('github-token', '`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_` tokens, fine-grained `github_pat_` tokens', 'the type prefix'),
  value('gitlab-token', '`glpat-`, `gldt-`, `glrt-`, `glcbt-`, `glptt-`, `glft-`, `glimt-`, `glagent-`, `glsoat-`, `GR1348941` tokens', 'the type prefix'),
  value('slack-token', '`xoxb-`, `xoxp-`, `xoxa-`, `xoxe-`, `xoxr-`, `xoxs-`, `xoxe.xoxp-`, `xapp-` tokens', 'the type prefix'),
  value('webhook-url', 'secret webhook URLs: `hooks.slack.com/services/…`, `discord.com/api/webhooks/…`, `*.webhook.office.com/webhookb2/…`, `outlook.office.com/webhook/…`', 'the host and the first path segments'),
  value('stripe-key', 'Stripe secret and restricted keys (`sk_live_`, `sk_test_`, `rk_live_`, `rk_test_`) and webhook secrets (`whsec_`); publishable `pk_` keys are public', 'the type prefix'),
  value('google-api-key', 'Google API keys: `AIza` + 35 characters', 'the prefix `AIza`'),
  value('google-oauth', 'Google OAuth access tokens (`ya29.`), client secrets (`GOCSPX-`), refresh tokens (`1//0…`)', 'the type prefix'),
  value('openai-api-key', 'OpenAI keys: `sk-proj-`, `sk-svcacct-`, `sk-admin-`, and `sk-…T3BlbkFJ…`', 'the type prefix'),
  value('anthropic-api-key', 'Anthropic keys: `sk-ant-api03-`, `sk-ant-admin01-`, …', 'the type prefix'),
  value('npm-token', 'npm access tokens: `npm_` + 36 characters', 'the type prefix'),
  value('pypi-token', 'PyPI upload tokens: `pypi-AgEIcHlwaS5vcmc…`', 'the type prefix'),
  value('sendgrid-api-key', 'SendGrid keys: `SG.` + 22 + `.` + 43 characters', 'the type prefix'),
  value('hashicorp-vault-token', 'Vault tokens: `hvs.`, `hvb.`, `hvr.`', 'the type prefix'),
  value('digitalocean-token', 'DigitalOcean tokens: `dop_v1_`, `doo_v1_`, `dor_v1_` + 64 hex', 'the type prefix'),
  value('shopify-token', 'Shopify tokens: `shpat_`, `shpca_`, `shppa_`, `shpss_` + 32 hex', 'the type prefix'),
  value('huggingface-token', 'Hugging Face tokens: `hf_` + 34 letters', 'the type prefix'),
  value('grafana-token', 'Grafana Cloud tokens (`glc_`) and service account tokens (`glsa_`)', 'the type prefix'),
  value('databricks-token', 'Databricks tokens: `dapi` + 32 hex', 'the type prefix'),
  value('atlassian-api-token', 'Atlassian API tokens: `ATATT3` + 180 or more characters', 'the type prefix'),
  value('age-secret-key', 'age encryption keys: `AGE-SECRET-KEY-1…`', 'the type prefix'),
  value('postman-api-key', 'Postman API keys: `PMAK-` + 24 + `-` + 34 hex', 'the type prefix'),
  value('linear-api-key', 'Linear API keys: `lin_api_` + 40 characters', 'the type prefix'),
  value('new-relic-key', 'New Relic user API keys: `NRAK-` + 27 characters', 'the type prefix'),
  value('sentry-token', 'Sentry auth tokens: `sntrys_`, `sntryu_`', 'the type prefix'),
  value('doppler-token', 'Doppler tokens: `dp.pt.`, `dp.st.`, `dp.sa.`, `dp.ct.`, `dp.scim.`', 'the type prefix'),
  value('pulumi-token', 'Pulumi access tokens: `pul-` + 40 hex', 'the type prefix'),
  value('square-token', 'Square access tokens and secrets: `sq0atp-`, `sq0csp-`', 'the type prefix'),
  value('notion-token', 'Notion integration tokens: `secret_` + 43 characters, `ntn_`', 'the type prefix'),
  value('supabase-token', 'Supabase access tokens: `sbp_` + 40 hex', 'the type prefix'),
  value('flyio-token', 'Fly.io tokens: `fo1_` + 43 characters', 'the type prefix'),
  value('netlify-token', 'Netlify tokens: `nfp_` + 36 characters', 'the type prefix'),
  value('telegram-bot-token', 'Telegram bot tokens in bot API URLs: `api.telegram.org/bot<id>:<secret>`', 'the host, `/bot` and the bot id'),
  value('email-address', 'e-mail addresses anywhere in text (personal data, not a credential: off by default)', 'the first and last character of the local part and the domain', false),
];

export const RULES: ReadonlyMap<RuleId, MaskingRule> = new Map(LIBRARY.map((rule) => [rule.id, rule]));

/** The legacy switches of `masking.patterns` and the rule each one stands for. */
export const LEGACY_PATTERN_RULES = Object.freeze({ card_numbers: 'card-number', bearer_tokens: 'bearer-token', jwts: 'jwt' } as const satisfies Record<string, RuleId>);

/**
 * The rules in force: the library's defaults, less what `disabled` names, plus what `enabled`
 * names; each later layer (the key's own override) applied on top of the earlier one.
 */
export function enabledRules(layers: ReadonlyArray<{ readonly disabled: readonly RuleId[]; readonly enabled: readonly RuleId[] }>): ReadonlySet<RuleId> {
  const on = new Set<RuleId>(LIBRARY.filter((rule) => rule.enabledByDefault).map((rule) => rule.id));
  for (const { disabled, enabled } of layers) {
    for (const id of disabled) on.delete(id);
    for (const id of enabled) on.add(id);
  }
  return on;
}
