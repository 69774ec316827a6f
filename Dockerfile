# syntax=docker/dockerfile:1
# grantsweep: `docker build -t grantsweep .`, then see compose.yaml.
# The image runs the compiled JavaScript (`npm run build`: dist/), not the sources through tsx:
# half the start-up time and some 40 MB less per process.
ARG NODE_IMAGE=node:20-bookworm-slim

# --- production dependencies only --------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# --- compile: TypeScript to dist/ (the Lua scripts copied beside their modules) -----
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY config ./config
COPY jobs ./jobs
COPY src ./src
RUN npm run build

# --- runtime ------------------------------------------------------------------------
FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    GRANTSWEEP_HOME=/home/node/.grantsweep
WORKDIR /app
# Code and dependencies belong to root and are read-only for the user that runs them.
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY --from=build /app/dist ./dist
# The image's unprivileged user (uid 1000); its home holds GRANTSWEEP_HOME.
USER node
# 3000: `grantsweep dashboard`; 9464: the worker's Prometheus /metrics and /healthz.
EXPOSE 3000 9464
# The worker's /healthz (Redis answers, not shutting down). A container running the dashboard
# sets GRANTSWEEP_HEALTHCHECK_URL=http://127.0.0.1:3000/healthz (compose.yaml does).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.GRANTSWEEP_HEALTHCHECK_URL || 'http://127.0.0.1:9464/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "dist/src/cli/main.js"]
# Metrics bind all interfaces of the container so Prometheus can scrape them on the compose
# network; compose.yaml publishes no metrics port to the host.
CMD ["worker", "--metrics-port", "9464", "--metrics-host", "0.0.0.0"]
