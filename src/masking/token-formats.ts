/**
 * Credentials recognised by their format: a fixed type prefix that providers put on their
 * tokens so that scanners can find them (GitHub's `ghp_`, Slack's `xoxb-`, AWS's `AKIA`), then a
 * body of a known alphabet and length. In the spirit of gitleaks' rules: a prefix alone is no
 * proof, the body must follow. Each body pattern is one character class with bounded repetition
 * (and a fixed tail for a few), so it is matched in time linear in the token.
 *
 * A token keeps its type prefix: it says what leaked, and holds none of the secret. GitHub's and
 * npm's tokens end in a CRC-32 of the rest; it is not checked, because a prefix and a length are
 * already specific and a token with a typo or cut short is still a secret to hide.
 */
import type { RuleId } from './rules.js';

export interface TokenFormat {
  readonly rule: RuleId;
  /** The literal type prefix; the token starts where no letter or digit precedes it. */
  readonly prefix: string;
  /**
   * The rest of the token, matched right after the prefix (compiled sticky). Group 1, when
   * present, is kept too (a webhook URL's route).
   */
  readonly body: RegExp;
  /** How many characters of the prefix are kept; the whole prefix when absent. */
  readonly keep?: number;
  /** A literal the body must hold (OpenAI's legacy keys carry `T3BlbkFJ`, "OpenAI" in base64). */
  readonly holds?: string;
}

/** The token does not continue in a letter or digit: a shorter run of a longer word is not one. */
const END = '(?![A-Za-z0-9])';

function formats(rule: RuleId, prefixes: string, body: string, extra: Partial<Pick<TokenFormat, 'keep' | 'holds'>> = {}): TokenFormat[] {
  return prefixes.split(' ').map((prefix) => Object.freeze({ rule, prefix, body: new RegExp(body, 'y'), ...extra }));
}

export const TOKEN_FORMATS: readonly TokenFormat[] = [
  ...formats('aws-access-key-id', 'AKIA ASIA ABIA ACCA', `[A-Z0-9]{16}${END}`),
  ...formats('github-token', 'ghp_ gho_ ghu_ ghs_ ghr_', '[A-Za-z0-9]{36,255}'),
  ...formats('github-token', 'github_pat_', '[A-Za-z0-9_]{50,255}'),
  ...formats('gitlab-token', 'glpat- gldt- glrt- glcbt- glptt- glft- glimt- glagent- glsoat- glffct-', '[A-Za-z0-9_.-]{20,}'),
  ...formats('gitlab-token', 'GR1348941', '[A-Za-z0-9_-]{20,}'),
  ...formats('slack-token', 'xoxb- xoxp- xoxa- xoxe- xoxr- xoxs- xoxo- xoxe.xoxp- xoxe.xoxb- xapp-', '[A-Za-z0-9-]{10,}'),
  ...formats('webhook-url', 'hooks.slack.com/', '((?:services|workflows|triggers)/)[A-Za-z0-9+/_-]{20,}'),
  ...formats('webhook-url', 'discord.com/api/webhooks/ discordapp.com/api/webhooks/', '([0-9]{5,30}/)[A-Za-z0-9_-]{20,}'),
  ...formats('webhook-url', 'webhook.office.com/webhookb2/ outlook.office.com/webhook/', '[A-Za-z0-9@/_.-]{20,}'),
  ...formats('stripe-key', 'sk_live_ sk_test_ sk_prod_ rk_live_ rk_test_ rk_prod_', '[A-Za-z0-9]{10,}'),
  ...formats('stripe-key', 'whsec_', '[A-Za-z0-9+/=]{20,}'),
  ...formats('google-api-key', 'AIza', `[A-Za-z0-9_-]{35}${END}`),
  ...formats('google-oauth', 'ya29.', '[A-Za-z0-9_-]{20,}'),
  ...formats('google-oauth', 'GOCSPX-', '[A-Za-z0-9_-]{20,}'),
  ...formats('google-oauth', '1//0', '[A-Za-z0-9_-]{30,}'),
  ...formats('openai-api-key', 'sk-proj- sk-svcacct- sk-admin- sk-None-', '[A-Za-z0-9_-]{20,}'),
  ...formats('openai-api-key', 'sk-', '[A-Za-z0-9_-]{20,}', { holds: 'T3BlbkFJ' }),
  ...formats('anthropic-api-key', 'sk-ant-', '[A-Za-z0-9_-]{32,}'),
  ...formats('npm-token', 'npm_', `[A-Za-z0-9]{36}${END}`),
  ...formats('pypi-token', 'pypi-AgEIcHlwaS5vcmc', '[A-Za-z0-9_-]{40,}', { keep: 'pypi-'.length }),
  ...formats('sendgrid-api-key', 'SG.', '[A-Za-z0-9_-]{22}\\.[A-Za-z0-9_-]{43}'),
  ...formats('hashicorp-vault-token', 'hvs. hvb. hvr.', '[A-Za-z0-9_-]{24,}'),
  ...formats('digitalocean-token', 'dop_v1_ doo_v1_ dor_v1_', `[a-f0-9]{64}${END}`),
  ...formats('shopify-token', 'shpat_ shpca_ shppa_ shpss_', `[a-fA-F0-9]{32}${END}`),
  ...formats('huggingface-token', 'hf_', `[A-Za-z]{34}${END}`),
  ...formats('grafana-token', 'glc_', '[A-Za-z0-9+/]{32,}={0,2}'),
  ...formats('grafana-token', 'glsa_', `[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}${END}`),
  ...formats('databricks-token', 'dapi', `[a-f0-9]{32}(?:-[0-9])?${END}`),
  ...formats('atlassian-api-token', 'ATATT3', '[A-Za-z0-9_=-]{180,}'),
  ...formats('age-secret-key', 'AGE-SECRET-KEY-1', '[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}'),
  ...formats('postman-api-key', 'PMAK-', `[a-f0-9]{24}-[a-f0-9]{34}${END}`),
  ...formats('linear-api-key', 'lin_api_', `[A-Za-z0-9]{40}${END}`),
  ...formats('new-relic-key', 'NRAK-', `[A-Z0-9]{27}${END}`),
  ...formats('sentry-token', 'sntrys_', '[A-Za-z0-9+/=_]{50,}'),
  ...formats('sentry-token', 'sntryu_', `[a-f0-9]{64}${END}`),
  // A service token names its environment first: `dp.st.prd.…`.
  ...formats('doppler-token', 'dp.pt. dp.st. dp.sa. dp.ct. dp.scim.', '(?:[A-Za-z0-9_-]{1,32}\\.)?[A-Za-z0-9]{40,}'),
  ...formats('pulumi-token', 'pul-', `[a-f0-9]{40}${END}`),
  ...formats('square-token', 'sq0atp-', '[A-Za-z0-9_-]{22,}'),
  ...formats('square-token', 'sq0csp-', '[A-Za-z0-9_-]{43,}'),
  ...formats('notion-token', 'secret_', `[A-Za-z0-9]{43}${END}`),
  ...formats('notion-token', 'ntn_', '[A-Za-z0-9]{40,}'),
  ...formats('supabase-token', 'sbp_', `[a-f0-9]{40}${END}`),
  ...formats('flyio-token', 'fo1_', '[A-Za-z0-9_-]{43,}'),
  ...formats('netlify-token', 'nfp_', '[A-Za-z0-9]{36,}'),
  ...formats('telegram-bot-token', 'api.telegram.org/bot', '([0-9]{5,12}:)[A-Za-z0-9_-]{30,}'),
  // DER private keys in base64, without their PEM lines: PKCS#8 RSA, PKCS#1 RSA, PKCS#8 EC,
  // SEC1 EC P-256 and P-384, PKCS#8 Ed25519 (the fixed bytes that open each structure).
  ...formats('private-key', 'MII', '[A-Za-z0-9+/]{3}IBA(?:DANBgkqhkiG9w0BAQEFAAS|AKCA)[A-Za-z0-9+/=]*', { keep: 0 }),
  ...formats('private-key', 'MIG', '[A-Za-z0-9+/]AgEAMBMGByqGSM49AgEG[A-Za-z0-9+/=]*', { keep: 0 }),
  ...formats('private-key', 'MHcCAQEEI MIGkAgEBBDA MC4CAQAwBQYDK2VwBCIEI', '[A-Za-z0-9+/=]+', { keep: 0 }),
];

/**
 * The formats to try when the scan matched a prefix: those of that prefix, then those of the
 * shorter prefixes it begins with (`sk-` for `sk-ant-`), longest first.
 */
const CANDIDATES: ReadonlyMap<string, readonly TokenFormat[]> = new Map(
  [...new Set(TOKEN_FORMATS.map((f) => f.prefix))].map((prefix) => [
    prefix,
    TOKEN_FORMATS.filter((f) => prefix.startsWith(f.prefix)).sort((a, b) => b.prefix.length - a.prefix.length),
  ]),
);

const escape = (literal: string): string => literal.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/**
 * Literals as one trie-shaped alternation (`gh(?:p_|o_|…)|gl(?:pat-|…)`): at each position of a
 * text only the branch of its first character is tried, where a flat alternation of 70 prefixes
 * tries them all. A word that is the start of a longer one matches the longer one first.
 */
function trie(words: readonly string[]): string {
  const byFirst = new Map<string, string[]>();
  let ends = false;
  for (const word of words) {
    if (word === '') ends = true;
    else byFirst.set(word[0]!, [...(byFirst.get(word[0]!) ?? []), word.slice(1)]);
  }
  const branches = [...byFirst].map(([first, rests]) => escape(first) + trie(rests));
  if (branches.length === 0) return '';
  if (branches.length === 1 && !ends) return branches[0]!;
  return `(?:${branches.join('|')})${ends ? '?' : ''}`;
}

/**
 * The prefixes of the formats of `rules` as one alternation; null when none of the rules has a
 * format. A prefix must start a word: that is checked in code (`matchToken`), since a lookbehind
 * ahead of the alternation would run at every position of every text.
 */
export function prefixAlternation(rules: ReadonlySet<RuleId>): string | null {
  const prefixes = [...new Set(TOKEN_FORMATS.filter((f) => rules.has(f.rule)).map((f) => f.prefix))];
  return prefixes.length === 0 ? null : trie(prefixes);
}

function isAlphanumeric(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57);
}

/** A token found: where it ends and how many of its first characters are kept. */
export interface TokenMatch {
  readonly end: number;
  readonly keep: number;
}

/**
 * The token of a format of `rules` whose prefix is `matched` (a match of prefixAlternation, the
 * longest prefix there) at `start`; shorter prefixes that `matched` begins with are tried too
 * (`sk-` when `sk-ant-` has no body). Null when it is inside a word or no format's body follows;
 * then `resume` holds where the scan may go on: past a body that lacked what its format must
 * hold, since no prefix inside that body can start a token whose body holds it.
 */
export function matchToken(text: string, start: number, matched: string, rules: ReadonlySet<RuleId>, resume: { at: number }): TokenMatch | null {
  resume.at = start + matched.length;
  if (start > 0 && isAlphanumeric(text.charCodeAt(start - 1))) return null;
  for (const format of CANDIDATES.get(matched) ?? []) {
    if (!rules.has(format.rule)) continue;
    format.body.lastIndex = start + format.prefix.length;
    const body = format.body.exec(text);
    if (body === null) continue;
    if (format.holds !== undefined && !body[0].includes(format.holds)) {
      resume.at = Math.max(resume.at, format.body.lastIndex);
      continue;
    }
    return { end: format.body.lastIndex, keep: (format.keep ?? format.prefix.length) + (body[1]?.length ?? 0) };
  }
  return null;
}
