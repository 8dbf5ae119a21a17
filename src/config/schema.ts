/**
 * The one JSON Schema of LogStack's configuration. The TypeScript type `Config` derives from it,
 * ajv validates `config.yaml` + environment overrides against it at start, and the README's
 * configuration reference is checked against it. Units are in the key names or the descriptions.
 */
import { Type, type Static } from '@sinclair/typebox';
import { RULE_IDS } from '../masking/rules.js';

const LABEL_VALUE = '^[A-Za-z0-9_.:-]{1,128}$';
const LABEL_NAME = '^[a-zA-Z_][a-zA-Z0-9_]*$';

const Int = (opts: { default: number; minimum?: number; maximum?: number; description: string }) =>
  Type.Integer({ minimum: 0, ...opts });

const PartialRule = Type.Object(
  {
    keep_prefix: Type.Optional(Type.Integer({ minimum: 0, maximum: 64, description: 'Keep the first N characters, then `****`.' })),
    mask_email: Type.Optional(Type.Boolean({ description: 'Turn `jane.doe@example.com` into `j******e@example.com`.' })),
  },
  { additionalProperties: false },
);

const ValuePattern = Type.Object(
  {
    name: Type.String({ minLength: 1, pattern: LABEL_NAME, description: 'Names the pattern in metrics and logs.' }),
    pattern: Type.String({ minLength: 1, description: 'JavaScript regular expression (no flags syntax; `flags` below).' }),
    flags: Type.String({ default: 'g', pattern: '^[gimsuy]*$', description: 'Regular expression flags; `g` is always added.' }),
    replacement: Type.String({ default: '****', description: 'What a match is replaced with.' }),
  },
  { additionalProperties: false },
);

const RuleIds = (description: string) =>
  Type.Array(Type.Union(RULE_IDS.map((id) => Type.Literal(id))), { default: [], uniqueItems: true, description });

const MaskingOverride = Type.Object(
  {
    extra_keys: Type.Array(Type.String({ minLength: 1 }), { default: [], description: 'Keys masked for this token on top of `masking.baseline_keys`, matched by their words.' }),
    exempt_keys: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description: 'Keys this token may send unmasked, matched by their words: they lift `masking.baseline_keys`, `masking.partial_rules` and the key rules of the library.',
    }),
    partial_rules: Type.Record(Type.String(), PartialRule, { default: {}, description: 'Partial rules for this token, on top of `masking.partial_rules`.' }),
    disabled_rules: RuleIds('Rules of the library switched off for this token (README, Masking).'),
    enabled_rules: RuleIds('Rules of the library switched on for this token, also those off by default.'),
  },
  { additionalProperties: false, description: 'Masking for this key only, on top of the `masking` section.' },
);

export const ApiKeySchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128, pattern: LABEL_VALUE, description: 'Non-secret name: metrics label, log field, WAL directory.' }),
    active: Type.Boolean({ default: true, description: 'An inactive key is answered 401.' }),
    description: Type.Optional(Type.String({ description: 'Free text for operators.' })),
    tenant: Type.Optional(Type.String({ minLength: 1, maxLength: 150, description: 'Loki tenant (`X-Scope-OrgID`) of this key; default `loki.tenant`.' })),
    masking: Type.Optional(MaskingOverride),
    rate_limit_rps: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'Requests per second for this key; default `security.rate_limit_rps`.' })),
    rate_limit_burst: Type.Optional(Type.Integer({ minimum: 1, description: 'Burst (requests) for this key; default `security.rate_limit_burst`.' })),
    wal_quota_bytes: Type.Optional(Type.Integer({ minimum: 1048576, description: 'WAL quota of this key in bytes; default `wal.token_wal_quota_bytes`.' })),
    token_file: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          "File holding this key's token (a mounted Kubernetes or Docker secret); the key is then listed under a name of your choosing instead of its token. Read again at every reload.",
      }),
    ),
    client_subject: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'Requests with this key must come over a connection whose client certificate (verified against `server.tls.client_ca_file`) has this Common Name or this DNS, URI or email subject alternative name: a stolen token alone is not enough.',
      }),
    ),
  },
  { additionalProperties: false },
);

export const ConfigSchema = Type.Object(
  {
    server: Type.Object(
      {
        host: Type.String({ default: '0.0.0.0', description: 'Address to listen on.' }),
        port: Type.Integer({ default: 8000, minimum: 0, maximum: 65535, description: 'TCP port; 0 picks a free one.' }),
        debug: Type.Boolean({ default: false, description: 'Debug mode: sets the log level to DEBUG.' }),
        log_level: Type.String({
          default: 'INFO',
          pattern: '^(TRACE|DEBUG|INFO|WARN|WARNING|ERROR|CRITICAL|FATAL|SILENT|trace|debug|info|warn|warning|error|critical|fatal|silent)$',
          description: 'TRACE, DEBUG, INFO, WARN(ING), ERROR, CRITICAL/FATAL or SILENT (upper or lower case).',
        }),
        shutdown_timeout_seconds: Int({ default: 30, minimum: 1, maximum: 3600, description: 'Seconds the forwarder may drain after SIGTERM.' }),
        request_timeout_seconds: Int({ default: 30, minimum: 1, maximum: 600, description: 'Seconds a client has to send a whole request, headers and body, on every route; then 408 and the connection is closed.' }),
        headers_timeout_seconds: Int({ default: 10, minimum: 1, maximum: 600, description: 'Seconds a client has to send the request line and headers (at most request_timeout_seconds).' }),
        max_connections: Int({
          default: 1024,
          minimum: 2,
          description: 'Connections open at once. A new one past it takes the place of the longest idle, else the slowest to send its request; one being answered is never closed.',
        }),
        max_pipelined_requests: Int({
          default: 8,
          minimum: 1,
          maximum: 1024,
          description:
            'Requests one connection may have outstanding (HTTP/1.1 pipelining: sent before the answers to the earlier ones were read). They are processed one at a time, the connection not read while one waits; a client that sends more is disconnected.',
        }),
        trust_proxy: Type.Boolean({
          default: false,
          description:
            'Take the client address from X-Forwarded-For. `true` trusts every hop: the address logged is the leftmost, which the client writes itself (LogStack logs `invalid` for one that is not an IP address). Only behind a proxy that overwrites the header.',
        }),
        reload_on_change: Type.Boolean({
          default: false,
          description: 'Reload the configuration, as SIGHUP does, when its file or a secret file it names (`token_file`, `admin_token_file`) changes.',
        }),
        tls: Type.Object(
          {
            cert_file: Type.Optional(Type.String({ minLength: 1, description: 'PEM certificate (chain) the listener presents; setting it turns HTTPS on. Re-read when it changes.' })),
            key_file: Type.Optional(Type.String({ minLength: 1, description: 'PEM private key of `cert_file`, unencrypted. Re-read when it changes.' })),
            client_ca_file: Type.Optional(Type.String({ minLength: 1, description: 'PEM file of the CAs whose client certificates are accepted (mutual TLS). Re-read when it changes.' })),
            client_auth: Type.Union([Type.Literal('none'), Type.Literal('request'), Type.Literal('require')], {
              default: 'none',
              description:
                '`none`: no client certificate asked. `request`: asked; a client without one is served, one with a certificate `client_ca_file` did not sign is disconnected. `require`: a connection without such a certificate fails its handshake (the kubelet\'s HTTPS probes too).',
            }),
            min_version: Type.Union([Type.Literal('TLSv1.2'), Type.Literal('TLSv1.3')], { default: 'TLSv1.2', description: 'Oldest TLS version accepted.' }),
          },
          { additionalProperties: false, default: {}, description: 'HTTPS on the listener; plain HTTP while `cert_file` is unset.' },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    security: Type.Object(
      {
        rate_limit_rps: Type.Number({ default: 1000, exclusiveMinimum: 0, description: 'Requests per second per token (token bucket refill).' }),
        rate_limit_burst: Type.Integer({ default: 2000, minimum: 1, description: 'Requests a token may send at once (bucket size).' }),
        admin_token: Type.Optional(Type.String({ minLength: 16, description: 'Bearer token of /v1/admin/*. Without it the admin endpoints answer 401.' })),
        admin_token_file: Type.Optional(Type.String({ minLength: 1, description: 'File holding the admin token, instead of `admin_token`. Read again at every reload.' })),
        api_keys: Type.Record(Type.String({ minLength: 16 }), ApiKeySchema, {
          default: {},
          // Type.Record drops the key schema's constraints; propertyNames keeps them enforced.
          // The pattern is RFC 6750's b64token: anything else cannot be sent as `Bearer <token>`.
          propertyNames: { minLength: 16, pattern: '^[A-Za-z0-9._~+/-]+=*$' },
          description: 'API tokens (at least 16 characters) and what each is; a key with `token_file` is listed under any name instead.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    masking: Type.Object(
      {
        baseline_keys: Type.Array(Type.String({ minLength: 1 }), {
          default: ['password', 'token', 'authorization', 'api_key', 'secret', 'card_number', 'email'],
          description: 'Keys masked anywhere (metadata, JSON lines, labels, `key=value` in text), matched by their words: `api_key` also masks `X-Api-Key` and `stripeApiKey`.',
        }),
        partial_rules: Type.Record(Type.String(), PartialRule, {
          default: { authorization: { keep_prefix: 5 }, email: { mask_email: true } },
          description: 'Keys whose value is partly kept instead of fully masked.',
        }),
        replacement: Type.String({ default: '****', minLength: 1, description: 'What a fully masked value becomes.' }),
        disabled_rules: RuleIds('Rules of the library switched off (README, Masking).'),
        enabled_rules: RuleIds('Rules of the library switched on, also those off by default (`email-address`).'),
        patterns: Type.Object(
          {
            card_numbers: Type.Boolean({ default: true, description: '`false` switches rule `card-number` off.' }),
            bearer_tokens: Type.Boolean({ default: true, description: '`false` switches rule `bearer-token` off.' }),
            jwts: Type.Boolean({ default: true, description: '`false` switches rule `jwt` off.' }),
            custom: Type.Array(ValuePattern, { default: [], description: 'Extra regular expressions applied to `message` and every string value.' }),
          },
          { additionalProperties: false, default: {}, description: 'Value patterns, applied to every text and string value after the rules.' },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    limits: Type.Object(
      {
        max_body_bytes: Int({ default: 5242880, minimum: 1024, description: 'Bytes of a request body, counted after gzip inflation (5 MiB).' }),
        max_body_bytes_in_flight: Int({
          default: 67108864,
          minimum: 1024,
          description: 'Bytes of request bodies held at once across all requests, as sent, decompressed and decoded (an entry counts 512 bytes; a JSON body what JSON.parse makes of it, 5-8× its bytes for log batches) (64 MiB, so that the costliest log batch within the per-request limits, 50,000 entries of a Loki JSON push, about 46 MiB, fits alone; at least max_body_bytes); past it 503 server_busy. The requests of one key hold at most max_body_bytes_in_flight_per_key of it.',
        }),
        max_body_bytes_in_flight_per_key: Int({
          default: 54525952,
          minimum: 1024,
          description:
            "Bytes of request bodies the requests of one API key hold at once, counted as for max_body_bytes_in_flight, so that one key's uploads leave the rest of that budget to the other keys (52 MiB: a 5 MiB Loki JSON push of 50,000 lines, charged 45 MiB, 50 MiB as gzip, fits alone, and 12 MiB stay for the others; unset while max_body_bytes_in_flight is set, that, as before keys had a share; at least max_body_bytes, at most max_body_bytes_in_flight); past it 503 server_busy for that key only, and 413 payload_too_large for a request that alone would go past it.",
        }),
        max_entries: Int({ default: 1000, minimum: 1, description: 'Entries per request.' }),
        max_message_bytes: Int({ default: 256000, minimum: 1, maximum: 268435456, description: "UTF-8 bytes of a line, also after masking (Loki's default max_line_size, 256KB, is 256,000 bytes)." }),
        max_metadata_depth: Int({ default: 8, minimum: 1, maximum: 64, description: 'Nesting depth of `metadata`.' }),
        max_metadata_keys: Int({ default: 128, minimum: 1, description: "Leaf keys of `metadata` (Loki's default structured metadata limit is 128 entries)." }),
        max_metadata_key_bytes: Int({
          default: 1024,
          minimum: 1,
          description: "UTF-8 bytes of one key of `metadata`, at any depth (Loki's max_label_name_length); checked before a key is used in a name.",
        }),
        max_structured_metadata_bytes: Int({
          default: 64000,
          minimum: 1,
          description: "Bytes of an entry's structured metadata, names and values (Loki's default max_structured_metadata_size, 64KB).",
        }),
        max_past_seconds: Int({ default: 604800, minimum: 1, description: "How old a timestamp may be (Loki's reject_old_samples_max_age, 7 days)." }),
        max_future_seconds: Int({ default: 600, minimum: 0, description: "How far in the future a timestamp may be (Loki's creation_grace_period, 10 min)." }),
      },
      { additionalProperties: false, default: {} },
    ),
    wal: Type.Object(
      {
        wal_root_path: Type.String({ default: './wal', minLength: 1, description: 'Directory of the WAL; one sub-directory per token.' }),
        segment_max_bytes: Int({ default: 134217728, minimum: 4096, description: 'Rotate the active segment at this size (128 MiB).' }),
        segment_max_age_seconds: Int({ default: 300, minimum: 1, description: 'Rotate a non-empty active segment at this age.' }),
        token_wal_quota_bytes: Int({ default: 2147483648, minimum: 1048576, description: 'WAL bytes per token before 429 wal_quota_exceeded (2 GiB).' }),
        sync: Type.Boolean({ default: true, description: 'fsync before 202. `false` is UNSAFE: a crash may lose acknowledged entries.' }),
        disk_reserve_percent: Type.Number({ default: 5, minimum: 0, maximum: 99, description: 'Free space (percent of the volume) kept; below it ingest answers 503.' }),
        lock_stale_seconds: Int({ default: 10, minimum: 2, maximum: 600, description: 'A WAL lock not refreshed for this long belongs to a dead process, unless its holder on this host still answers on its socket (a stalled holder keeps its lock).' }),
      },
      { additionalProperties: false, default: {} },
    ),
    loki: Type.Object(
      {
        base_url: Type.String({ default: 'http://localhost:3100', pattern: '^https?://', description: 'Loki (or its gateway); pushes go to {base_url}/loki/api/v1/push.' }),
        timeout_seconds: Type.Number({ default: 30, exclusiveMinimum: 0, description: 'Seconds a push may take before it is retried.' }),
        max_retries: Int({ default: 3, description: 'Fast retries before a token is reported failing; it keeps retrying at the backoff cap, never drops.' }),
        backoff_initial_ms: Int({ default: 250, minimum: 1, description: 'First retry delay (ms); doubles per attempt, full jitter.' }),
        backoff_max_ms: Int({ default: 30000, minimum: 1, description: 'Retry delay cap (ms).' }),
        encoding: Type.Union([Type.Literal('protobuf'), Type.Literal('json')], { default: 'protobuf', description: '`protobuf` (snappy) or `json` (gzip).' }),
        tenant: Type.Optional(Type.String({ minLength: 1, maxLength: 150, description: 'Default `X-Scope-OrgID`; none when unset and the key has no tenant.' })),
        labels: Type.Array(Type.Union([Type.Literal('service'), Type.Literal('env'), Type.Literal('level')]), {
          default: ['service', 'env', 'level'],
          uniqueItems: true,
          description: 'Entry fields that become Loki labels.',
        }),
        static_labels: Type.Record(Type.String({ pattern: LABEL_NAME }), Type.String({ minLength: 1, maxLength: 1024 }), {
          default: {},
          // Without it a key that fails the pattern matches no patternProperties and goes unchecked.
          propertyNames: { pattern: LABEL_NAME },
          description: 'Labels added to every stream.',
        }),
        metadata_mode: Type.Union([Type.Literal('structured_metadata'), Type.Literal('json_line')], {
          default: 'structured_metadata',
          description: '`structured_metadata`: line is `message`, metadata flattened into Loki structured metadata (Loki 3+). `json_line`: line is a JSON object of message and metadata.',
        }),
        batch_max_bytes: Int({ default: 524288, minimum: 1024, description: 'Encoded bytes per push (512 KiB; Loki refuses requests over the tenant burst).' }),
        batch_max_entries: Int({ default: 5000, minimum: 1, description: 'Entries per push.' }),
        batch_max_wait_ms: Int({ default: 200, minimum: 0, description: 'How long a partial batch waits for more entries (ms).' }),
        concurrency: Int({ default: 4, minimum: 1, maximum: 64, description: 'Pushes in flight at once, across tokens (one per token, to keep order).' }),
        headers: Type.Record(Type.String(), Type.String(), {
          default: {},
          // RFC 9110 token: undici would refuse any other header name, but only at the first push.
          propertyNames: { pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" },
          description: 'Extra headers on every push.',
        }),
        basic_auth: Type.Optional(
          Type.Object({ username: Type.String({ description: 'User name.' }), password: Type.String({ description: 'Password; never logged.' }) }, { additionalProperties: false, description: 'Basic auth toward Loki.' }),
        ),
        bearer_token: Type.Optional(Type.String({ minLength: 1, description: 'Bearer token toward Loki.' })),
        tls: Type.Object(
          {
            ca_file: Type.Optional(Type.String({ description: 'PEM file of the CA that signed Loki.' })),
            cert_file: Type.Optional(Type.String({ description: 'Client certificate (PEM) for mutual TLS.' })),
            key_file: Type.Optional(Type.String({ description: 'Client key (PEM) for mutual TLS.' })),
            insecure_skip_verify: Type.Boolean({ default: false, description: "Don't verify Loki's certificate. For tests only." }),
          },
          { additionalProperties: false, default: {}, description: 'TLS toward an `https://` base_url.' },
        ),
        ready_check_interval_seconds: Int({ default: 10, minimum: 1, description: "How often /readyz asks Loki's /ready." }),
        dead_letter_quota_bytes: Int({ default: 268435456, minimum: 65536, description: 'Dead-letter bytes per token; the oldest are dropped past it (256 MiB).' }),
      },
      { additionalProperties: false, default: {} },
    ),
    loki_push: Type.Object(
      {
        enabled: Type.Boolean({ default: true, description: "Serve Loki's push API (`POST /loki/api/v1/push`, `/api/prom/push`) to Loki clients." }),
        label_allowlist: Type.Array(Type.String({ pattern: LABEL_NAME }), {
          default: [],
          uniqueItems: true,
          description: 'Client labels kept; empty keeps every label. The others are dropped.',
        }),
        label_denylist: Type.Array(Type.String({ pattern: LABEL_NAME }), { default: [], uniqueItems: true, description: 'Client labels dropped, after the allowlist.' }),
        max_label_names_per_series: Int({
          default: 15,
          minimum: 1,
          description: "Labels per stream, `loki.static_labels` included, `service_name` not counted (Loki's max_label_names_per_series).",
        }),
        max_entries_per_push: Int({
          default: 50000,
          minimum: 1,
          description: 'Entries per push, all streams together; decoding stops past it (413). Loki clients batch by about 1 MB: 50,000 entries is 20-byte lines.',
        }),
        max_streams_per_push: Int({ default: 10000, minimum: 1, description: 'Streams per push; decoding stops past it (413).' }),
        max_label_name_length: Int({ default: 1024, minimum: 1, description: "UTF-8 bytes of a label name (Loki's max_label_name_length)." }),
        max_label_value_length: Int({ default: 2048, minimum: 1, description: "UTF-8 bytes of a label value (Loki's max_label_value_length)." }),
      },
      { additionalProperties: false, default: {}, description: "Loki's own push API: what LogStack accepts from Loki clients (Alloy, Promtail, Fluent Bit, pino-loki)." },
    ),
    otlp: Type.Object(
      {
        enabled: Type.Boolean({ default: true, description: 'Serve OpenTelemetry logs over OTLP/HTTP (`POST /v1/logs`, protobuf or JSON).' }),
        index_labels: Type.Array(Type.String({ minLength: 1 }), {
          default: [
            'service.name',
            'service.namespace',
            'service.instance.id',
            'deployment.environment',
            'cloud.region',
            'cloud.availability_zone',
            'k8s.cluster.name',
            'k8s.namespace.name',
            'k8s.pod.name',
            'k8s.container.name',
            'container.name',
            'k8s.replicaset.name',
            'k8s.deployment.name',
            'k8s.statefulset.name',
            'k8s.daemonset.name',
            'k8s.cronjob.name',
            'k8s.job.name',
          ],
          uniqueItems: true,
          description:
            "Resource attributes that become Loki labels (dots become `_`); every other attribute is structured metadata. The default is Loki's `default_resource_attributes_as_index_labels`.",
        }),
        max_log_records: Int({ default: 10000, minimum: 1, description: "Log records per request, counted before decoding (the Collector's batches are 8,192 by default)." }),
      },
      { additionalProperties: false, default: {}, description: 'OpenTelemetry logs over OTLP/HTTP, mapped to Loki as Loki\'s own OTLP endpoint maps them.' },
    ),
  },
  { additionalProperties: false, default: {} },
);

export type Config = Static<typeof ConfigSchema>;
export type ApiKeyConfig = Static<typeof ApiKeySchema>;
export type PartialRuleConfig = Static<typeof PartialRule>;
export type MaskingOverrideConfig = Static<typeof MaskingOverride>;
export type LabelField = Config['loki']['labels'][number];
