# Warren's production image. Build: docker build -t warren .   Run: docker run -e AMQP_URL=amqp://… warren
# The project the image runs (functions/, queues.yaml, rascal.json, schema files) is copied in below;
# to run another project, mount it over /app/functions, /app/queues.yaml and /app/rascal.json, or
# pass --dir. Reasons for each choice: docs/production.md.

# --- build: production dependencies only, and dist/ (npm ci runs `prepare`, which builds with esbuild)
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY runtime ./runtime
COPY bin ./bin
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force

# --- run: no npm cache, no compilers, no dev dependencies; code owned by root, process runs as `node`
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    WARREN_ADMIN_PORT=8080
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Everything else in the build context that .dockerignore lets through: package.json, runtime/,
# bin/, and the user's functions/, queues.yaml, rascal.json and any schema or helper files.
COPY . .
# The admin API stays on loopback (the default): HEALTHCHECK and `docker exec … warren status` reach
# it from inside the container and no token is needed. Kubernetes (`warren manifests`) binds it to
# 0.0.0.0 and supplies WARREN_ADMIN_TOKEN from a Secret.
USER node
EXPOSE 8080
# GET /healthz on the admin API, sending `Authorization: Bearer $WARREN_ADMIN_TOKEN` when it is set.
# The same script as runtime/manifests/probe.ts (a unit test checks they agree).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const p=process.env.WARREN_ADMIN_PORT||8080,t=process.env.WARREN_ADMIN_TOKEN;fetch('http://127.0.0.1:'+p+(process.argv[1]||'/healthz'),{headers:t?{authorization:'Bearer '+t}:{},signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))", "/healthz"]
# node itself is PID 1 (not npm, not a shell) so SIGTERM reaches Warren, which drains before exiting.
ENTRYPOINT ["node", "bin/warren.js"]
CMD ["start"]
