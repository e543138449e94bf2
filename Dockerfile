# One image for every mixlab service; docker-compose.yml picks the service with `command`.
# TypeScript runs through Node 24's built-in type stripping, so there is no compile stage.

# Stage 1: only the package manifests, so the dependency layer is rebuilt only when they change.
FROM node:24-bookworm-slim AS manifests
WORKDIR /src
COPY . .
RUN find . -type f ! -name package.json ! -name package-lock.json -delete && find . -type d -empty -delete

# Stage 2: production dependencies, installed from the lock file.
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY --from=manifests /src ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# Stage 3: runtime.
FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app ./
COPY . .
# State that must survive a restart (keys, mailboxes, registrations) lives on a volume here;
# a new named volume takes this directory's owner. /enrollment: the public identity keys
# services enroll with (compose's `enrollment` volume, read by the directory).
RUN mkdir -p /data /enrollment && chown node:node /data /enrollment
USER node
EXPOSE 8080
# GET /health with bash builtins only (/dev/tcp, printf, read): a check costs one bash, not
# a node start-up (about 0.05 s of CPU each, which every container paid every 2 s). The
# gateway answers it on its plain-HTTP delivery listener (DELIVERY_PORT), others on PORT.
HEALTHCHECK --interval=2s --timeout=2s --start-period=5s --retries=30 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${DELIVERY_PORT:-${PORT:-8080}} && printf 'GET /health HTTP/1.0\\r\\n\\r\\n' >&3 && read -r _ status _ <&3 && [ \"$status\" = 200 ]"]
CMD ["node", "services/mix-node/src/main.ts"]
