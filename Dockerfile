# syntax=docker/dockerfile:1
# One image for every Kappaflow role, chosen by the command:
#   kappaflow operator            the Kubernetes operator (charts/kappaflow runs it)
#   kappaflow run <pipeline.yaml> one processor replica (the operator's Deployments run it)
#   kappaflow serve               query-only API and dashboard
# The sources are TypeScript run by tsx (a production dependency) without a build step, so the
# image holds node, the production node_modules, bin/ and the sources; nothing else.
#
#   docker build -t kappaflow:0.1.0 .
#   docker run --rm --read-only --tmpfs /tmp kappaflow:0.1.0 validate examples/
#
# test/integration/helm/dockerfile.test.ts replays this file's COPY/RUN steps in a clean folder
# (no Docker engine on the test machines) and runs the result: keep the steps simple.

ARG NODE_IMAGE=node:20-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs20-debian12:nonroot

# ---- deps: production dependencies only, from the lockfile ----
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# Only node_modules leaves this stage, so npm's cache lives in a build cache mount, not in a layer.
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# ---- runtime: distroless node (no shell, no package manager), non-root ----
FROM ${RUNTIME_IMAGE} AS runtime
WORKDIR /app
# The root filesystem can be read-only, with or without a writable /tmp: tsx's transpile cache is off
# (it would only help across restarts of one container; esbuild transpiles the sources in about a second).
ENV NODE_ENV=production TMPDIR=/tmp TSX_DISABLE_CACHE=1
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY bin ./bin
COPY processor/src ./processor/src
COPY operator/src ./operator/src
COPY examples ./examples
# nonroot of the distroless image (65532) is replaced by a fixed id that matches the chart's securityContext.
USER 10001:10001
# 8080: processor/query HTTP (/healthz, /readyz, /metrics, API); 8081: operator metrics and health.
EXPOSE 8080 8081
LABEL org.opencontainers.image.title="kappaflow" \
      org.opencontainers.image.description="Kappa-architecture stream processing on Kubernetes: operator, processor and query API" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/kappaflow/kappaflow"
ENTRYPOINT ["/nodejs/bin/node", "/app/bin/kappaflow.js"]
CMD ["--help"]
