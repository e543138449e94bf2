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
# a new named volume takes this directory's owner.
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 8080
HEALTHCHECK --interval=2s --timeout=2s --start-period=5s --retries=30 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "services/mix-node/src/main.ts"]
