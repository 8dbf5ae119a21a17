# syntax=docker/dockerfile:1
#
# LogStack: built with the dev dependencies, run with the production ones, as a non-root user.
#
#   docker build -t logstack .
#   docker run -p 8000:8000 -v logstack-wal:/var/lib/logstack/wal \
#     -e LOGSTACK_LOKI_BASE_URL=http://loki:3100 \
#     -e LOGSTACK_API_KEY_PAYMENTS_TOKEN=... -e LOGSTACK_SECURITY_ADMIN_TOKEN=... logstack
#
# Both stages use the same glibc (Debian bookworm) image on purpose. snappy is a native module
# that npm installs as a prebuilt binary for the platform and C library of the stage that runs
# `npm ci` (@napi-rs/snappy-linux-x64-gnu on amd64, -arm64-gnu on arm64): node_modules built on
# glibc do not load on musl (Alpine), and the first push to Loki would fail. For the same reason
# the build stage runs on the target platform, not on $BUILDPLATFORM.
# Node 24 LTS, as package.json's engines require.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
# `npm ci` runs the `prepare` script, which compiles src/ into dist/ (and sets up the test
# runner); the compiler and the other dev dependencies, the `node` package among them, are then
# pruned so the runtime stage copies only what runs, on the image's own Node 24.
RUN --mount=type=cache,target=/root/.npm \
    npm ci --no-audit --no-fund \
 && npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE}
WORKDIR /app
# A fixed uid, so that Kubernetes' runAsNonRoot can verify it and fsGroup can match it. The WAL
# directory is created and owned here: Docker initialises a named volume from it.
RUN groupadd --system --gid 10001 logstack \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin logstack \
 && mkdir -p /var/lib/logstack/wal \
 && chown 10001:10001 /var/lib/logstack/wal
# The code stays owned by root: the service can write its WAL and nothing else.
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
# The repository's config.yaml documents every key but holds public example tokens, so it is
# shipped as a reference only. Configure the container through LOGSTACK_* variables, or mount a
# file and name it with LOGSTACK_CONFIG; without either it runs on the defaults (no API keys).
COPY config.yaml ./config.example.yaml

ENV LOGSTACK_WAL_ROOT_PATH=/var/lib/logstack/wal
# glibc's malloc serves an allocation of 128 KiB or more with its own mmap, given back to the
# kernel when freed, but after the first such free it raises that threshold up to 32 MiB: request
# bodies, inflated bodies and WAL groups of 1-5 MB then come from its heaps, which fragment and
# are kept. Under mixed load that was 100-170 MiB of RSS over what the process used, still held
# after the load (docs/benchmarks.md, "Native memory under mixed load"). Setting the threshold
# fixes it at 128 KiB. MALLOC_ARENA_MAX=2 was measured too and changed nothing.
ENV MALLOC_MMAP_THRESHOLD_=131072
USER 10001:10001
VOLUME /var/lib/logstack/wal
EXPOSE 8000
# Liveness only (/healthz never fails for Loki or the disk). Slim images have no curl; Node has fetch.
# HTTPS first (server.tls; the certificate is not verified, as the kubelet's probes do not), else HTTP.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const o = { host: '127.0.0.1', port: process.env.LOGSTACK_PORT || process.env.LOGSTACK_SERVER_PORT || 8000, path: '/healthz' }; const done = (r) => process.exit(r.statusCode === 200 ? 0 : 1); require('https').get({ ...o, rejectUnauthorized: false }, done).on('error', () => require('http').get(o, done).on('error', () => process.exit(1)))"]
# SIGTERM drains (server.shutdown_timeout_seconds, default 30 s): give `docker stop -t` more than that.
STOPSIGNAL SIGTERM
# Run through its first line, which holds the node flags LogStack is measured with.
ENTRYPOINT ["bin/logstack.js"]
CMD ["serve"]
